"""Tests of the fake Nexus itself, driven with plain ``requests`` as a client would.

Each recorded quirk (shared/reference/nexus.md) has at least one test, named after it.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.base import Fault
from tests.fakes.nexus import EULA_DISCLAIMER, EULA_GATE_MESSAGE, ROUTES, NexusFake
from tests.fakes.nexus_repos import (
    docker_group_body,
    docker_proxy_body,
    maven_hosted_body,
    maven_proxy_body,
)
from tests.fakes.nexus_wire import VALIDATION_MEDIA_TYPE, spec
from tests.fakes.spec import NEXUS_SPEC, spec_errors
from tests.support.ports import free_port

ADMIN = ("admin", "admin123")
REPOS = "/service/rest/v1/repositories"


# Constructor defaults: every test resets the one module-wide server to them plus its own options
# (stopping a server costs half a second of the base's poll interval, so it is started once).
DEFAULTS = {
    k: p.default for k, p in inspect.signature(NexusFake).parameters.items() if k != "hang_seconds"
}


@pytest.fixture(scope="module")
def server() -> Iterator[NexusFake]:
    with NexusFake() as started:
        assert isinstance(started, NexusFake)
        yield started


@pytest.fixture
def nexus(server: NexusFake) -> Callable[..., NexusFake]:
    """Reset the shared server to the constructor defaults overridden by the given options."""
    return lambda **options: server.reset(**{**DEFAULTS, **options})


@pytest.fixture
def fake(nexus: Callable[..., NexusFake]) -> NexusFake:
    return nexus(bootstrapped=True)


@pytest.fixture
def fresh(nexus: Callable[..., NexusFake], tmp_path: Path) -> NexusFake:
    return nexus(password_file=tmp_path / "nexus-data" / "admin.password")


def call(
    fake: NexusFake, method: str, path: str, auth: Any = ADMIN, **kw: Any
) -> requests.Response:
    return requests.request(method, fake.url + path, auth=auth, timeout=5, **kw)


def create(fake: NexusFake, kind: str, body: dict[str, Any]) -> requests.Response:
    return call(fake, "POST", f"{REPOS}/{kind}", json=body)


# -- status, auth, password (§2 steps 1-2) ------------------------------------------------------


def test_status_endpoints_need_no_auth_and_have_empty_bodies(fresh: NexusFake) -> None:
    for path in ("/service/rest/v1/status", "/service/rest/v1/status/writable"):
        resp = call(fresh, "GET", path, auth=None)
        assert (resp.status_code, resp.content) == (200, b"")


def test_starting_server_answers_503_for_n_requests(fake: NexusFake) -> None:
    fake.set_starting(2)
    codes = [
        call(fake, "GET", "/service/rest/v1/status/writable", auth=None).status_code
        for _ in range(3)
    ]
    assert codes == [503, 503, 200]


def test_frozen_server_is_available_but_not_writable(fake: NexusFake) -> None:
    fake.frozen = True
    assert call(fake, "GET", "/service/rest/v1/status", auth=None).status_code == 200
    assert call(fake, "GET", "/service/rest/v1/status/writable", auth=None).status_code == 503


@pytest.mark.parametrize("auth", [None, ("admin", "wrong"), ("nobody", "x")])
def test_missing_or_wrong_credentials_get_401(fake: NexusFake, auth: Any) -> None:
    resp = call(fake, "GET", "/service/rest/v1/security/realms/active", auth=auth)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("BASIC realm=")


def test_malformed_authorization_header_gets_401(fake: NexusFake) -> None:
    resp = requests.get(
        fake.url + "/service/rest/v1/security/anonymous",
        headers={"Authorization": "Basic !!notbase64"},
        timeout=5,
    )
    assert resp.status_code == 401


def test_fresh_instance_uses_random_initial_password_from_file(fresh: NexusFake) -> None:
    assert fresh.initial_password and fresh.initial_password != "admin123"
    assert fresh.password_file is not None
    assert fresh.password_file.read_text(encoding="utf-8") == fresh.initial_password
    assert call(fresh, "GET", "/service/rest/v1/security/anonymous").status_code == 401
    ok = call(
        fresh, "GET", "/service/rest/v1/security/anonymous", auth=("admin", fresh.initial_password)
    )
    assert ok.status_code == 200


def test_initial_password_option_writes_no_file(
    nexus: Callable[..., NexusFake], tmp_path: Path
) -> None:
    server = nexus(initial_password="s3cret", password_file=tmp_path / "admin.password")
    assert server.admin_password == "s3cret" and not (tmp_path / "admin.password").exists()


def test_change_password_is_text_plain_204_and_deletes_password_file(fresh: NexusFake) -> None:
    auth = ("admin", fresh.initial_password)
    resp = call(
        fresh,
        "PUT",
        "/service/rest/v1/security/users/admin/change-password",
        auth=auth,
        data="n3w-pass",
        headers={"Content-Type": "text/plain"},
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert fresh.admin_password == "n3w-pass"
    assert fresh.password_file is not None and not fresh.password_file.exists()
    assert call(fresh, "GET", "/service/rest/v1/security/anonymous", auth=auth).status_code == 401
    assert (
        call(
            fresh, "GET", "/service/rest/v1/security/anonymous", auth=("admin", "n3w-pass")
        ).status_code
        == 200
    )


@pytest.mark.parametrize("kwargs", [{"json": "n3w"}, {"data": b"n3w"}])
def test_change_password_refuses_other_content_types_with_415(fake: NexusFake, kwargs: Any) -> None:
    resp = call(fake, "PUT", "/service/rest/v1/security/users/admin/change-password", **kwargs)
    assert resp.status_code == 415
    assert fake.admin_password == "admin123"


def test_change_password_blank_is_400_and_unknown_user_404(fake: NexusFake) -> None:
    headers = {"Content-Type": "text/plain"}
    path = "/service/rest/v1/security/users/{}/change-password"
    blank = call(fake, "PUT", path.format("admin"), data="  ", headers=headers)
    assert (blank.status_code, blank.json()) == (400, "Password must be supplied.")
    assert call(fake, "PUT", path.format("ghost"), data="x", headers=headers).status_code == 404


# -- EULA (§2 step 3) ---------------------------------------------------------------------------


def test_eula_get_needs_auth_and_returns_exact_disclaimer_as_utf8(fresh: NexusFake) -> None:
    assert call(fresh, "GET", "/service/rest/v1/system/eula", auth=None).status_code == 401
    resp = call(
        fresh, "GET", "/service/rest/v1/system/eula", auth=("admin", fresh.initial_password)
    )
    assert resp.json() == {"accepted": False, "disclaimer": EULA_DISCLAIMER}
    assert "\u2018accepted:false\u2019".encode() in resp.content  # raw UTF-8, not \\u escapes
    example = spec()["paths"]["/v1/system/eula"]["get"]["responses"]["200"]["examples"][
        "application/json"
    ]
    assert example["disclaimer"] == EULA_DISCLAIMER


@pytest.mark.parametrize(
    "disclaimer",
    [EULA_DISCLAIMER.replace("\u2018", "'").replace("\u2019", "'"), EULA_DISCLAIMER + " ", ""],
)
def test_eula_wrong_disclaimer_is_500(fresh: NexusFake, disclaimer: str) -> None:
    resp = call(
        fresh,
        "POST",
        "/service/rest/v1/system/eula",
        auth=("admin", fresh.initial_password),
        json={"accepted": True, "disclaimer": disclaimer},
    )
    assert resp.status_code == 500
    assert fresh.eula_accepted is False


def test_eula_echoed_disclaimer_accepts_and_lifts_content_gate(fresh: NexusFake) -> None:
    auth = ("admin", fresh.initial_password)
    gated = call(fresh, "GET", "/repository/maven-central/", auth=None)
    assert (gated.status_code, gated.text) == (403, EULA_GATE_MESSAGE)
    current = call(fresh, "GET", "/service/rest/v1/system/eula", auth=auth).json()
    resp = call(
        fresh, "POST", "/service/rest/v1/system/eula", auth=auth, json={**current, "accepted": True}
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert call(fresh, "GET", "/service/rest/v1/system/eula", auth=auth).json()["accepted"] is True
    assert call(fresh, "GET", "/repository/maven-central/", auth=None).status_code != 403


def test_eula_gates_content_but_not_rest_writes(fresh: NexusFake) -> None:
    auth = ("admin", fresh.initial_password)
    resp = call(
        fresh,
        "POST",
        f"{REPOS}/docker/proxy",
        auth=auth,
        json=docker_proxy_body("hub-a", "https://a.test"),
    )
    assert resp.status_code == 201
    assert call(fresh, "GET", "/repository/hub-a/v2/", auth=auth).status_code == 403


def test_eula_endpoint_absent_on_older_versions(nexus: Callable[..., NexusFake]) -> None:
    server = nexus(eula_endpoint=False, initial_password="pw")
    for method in ("GET", "POST"):
        resp = call(
            server,
            method,
            "/service/rest/v1/system/eula",
            auth=("admin", "pw"),
            json={"accepted": True, "disclaimer": EULA_DISCLAIMER},
        )
        assert resp.status_code == 404
    assert call(server, "GET", "/repository/maven-central/", auth=None).status_code != 403


def test_bootstrapped_instance_has_eula_accepted(fake: NexusFake) -> None:
    assert fake.eula_accepted and fake.initial_password is None
    assert call(fake, "GET", "/service/rest/v1/system/eula").json()["accepted"] is True


def test_docker_v2_ping_after_eula(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    anon = call(fake, "GET", "/repository/hub-a/v2/", auth=None)
    assert anon.status_code == 401 and anon.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert call(fake, "GET", "/repository/hub-a/v2/").status_code == 200
    assert call(fake, "GET", "/repository/missing/v2/").status_code == 404


# -- realms and anonymous (§2 steps 4-5) --------------------------------------------------------


def test_realm_defaults(fake: NexusFake) -> None:
    active = call(fake, "GET", "/service/rest/v1/security/realms/active").json()
    assert active == ["NexusAuthenticatingRealm", "NexusAuthorizingRealm"]
    available = call(fake, "GET", "/service/rest/v1/security/realms/available").json()
    assert {"id": "DockerToken", "name": "Docker Bearer Token Realm"} in available


def test_realms_put_replaces_the_ordered_list(fake: NexusFake) -> None:
    active = call(fake, "GET", "/service/rest/v1/security/realms/active").json()
    resp = call(
        fake, "PUT", "/service/rest/v1/security/realms/active", json=[*active, "DockerToken"]
    )
    assert (resp.status_code, resp.content) == (204, b"")
    assert fake.active_realms == [
        "NexusAuthenticatingRealm",
        "NexusAuthorizingRealm",
        "DockerToken",
    ]
    call(
        fake,
        "PUT",
        "/service/rest/v1/security/realms/active",
        json=["DockerToken", "NexusAuthenticatingRealm"],
    )
    assert call(fake, "GET", "/service/rest/v1/security/realms/active").json() == [
        "DockerToken",
        "NexusAuthenticatingRealm",
    ]


def test_unknown_realm_id_is_400_and_changes_nothing(fake: NexusFake) -> None:
    resp = call(
        fake,
        "PUT",
        "/service/rest/v1/security/realms/active",
        json=["NexusAuthenticatingRealm", "Bogus", "Other"],
    )
    assert (resp.status_code, resp.json()) == (400, "Unknown realmIds: [Bogus, Other]")
    assert fake.active_realms == ["NexusAuthenticatingRealm", "NexusAuthorizingRealm"]


def test_realms_can_model_a_version_without_authorizing_realm(
    nexus: Callable[..., NexusFake],
) -> None:
    server = nexus(
        bootstrapped=True,
        active_realms=["NexusAuthenticatingRealm"],
        available_realms=[("NexusAuthenticatingRealm", "Local"), ("DockerToken", "Docker")],
    )
    resp = call(
        server,
        "PUT",
        "/service/rest/v1/security/realms/active",
        json=["NexusAuthenticatingRealm", "NexusAuthorizingRealm", "DockerToken"],
    )
    assert (resp.status_code, resp.json()) == (400, "Unknown realmIds: [NexusAuthorizingRealm]")


def test_realms_body_must_be_an_array_of_strings(fake: NexusFake) -> None:
    resp = call(
        fake, "PUT", "/service/rest/v1/security/realms/active", json={"realms": ["DockerToken"]}
    )
    assert resp.status_code == 400 and fake.spec_violations


def test_anonymous_defaults_and_put_echoes_200(fake: NexusFake) -> None:
    assert call(fake, "GET", "/service/rest/v1/security/anonymous").json() == {
        "enabled": False,
        "userId": "anonymous",
        "realmName": "NexusAuthorizingRealm",
    }
    wanted = {"enabled": True, "userId": "anonymous", "realmName": "NexusAuthorizingRealm"}
    resp = call(fake, "PUT", "/service/rest/v1/security/anonymous", json=wanted)
    assert (resp.status_code, resp.json()) == (200, wanted)
    assert fake.anonymous == wanted


def test_anonymous_put_with_wrong_types_is_a_spec_violation(fake: NexusFake) -> None:
    resp = call(fake, "PUT", "/service/rest/v1/security/anonymous", json={"enabled": "yes"})
    assert resp.status_code == 400
    assert any("AnonymousAccessSettingsXO" in v for v in fake.spec_violations)
    assert fake.anonymous["enabled"] is False


# -- blob stores (§3) ---------------------------------------------------------------------------


def test_blobstore_list_has_default(fake: NexusFake) -> None:
    stores = call(fake, "GET", "/service/rest/v1/blobstores").json()
    assert [s["name"] for s in stores] == ["default"]
    assert stores[0]["type"] == "File" and "availableSpaceInBytes" in stores[0]


def test_file_blobstore_create_204_get_update(fake: NexusFake) -> None:
    body = {
        "name": "docker",
        "path": "docker",
        "softQuota": {"type": "spaceRemainingQuota", "limit": 100},
    }
    resp = call(fake, "POST", "/service/rest/v1/blobstores/file", json=body)
    assert (resp.status_code, resp.content) == (204, b"")
    got = call(fake, "GET", "/service/rest/v1/blobstores/file/docker").json()
    assert got == {"softQuota": {"type": "spaceRemainingQuota", "limit": 100}, "path": "docker"}
    upd = call(
        fake, "PUT", "/service/rest/v1/blobstores/file/docker", json={"path": "/data/docker"}
    )
    assert upd.status_code == 204
    assert fake.blobstores["docker"] == {"path": "/data/docker", "softQuota": None}


def test_duplicate_blobstore_is_400_list_ignoring_case(fake: NexusFake) -> None:
    resp = call(
        fake, "POST", "/service/rest/v1/blobstores/file", json={"name": "DEFAULT", "path": "x"}
    )
    assert resp.status_code == 400 and resp.headers["Content-Type"] == VALIDATION_MEDIA_TYPE
    assert resp.json() == [
        {"id": "name", "message": "Name is already used, must be unique (ignoring case)"}
    ]


def test_missing_blobstore_is_404(fake: NexusFake) -> None:
    assert call(fake, "GET", "/service/rest/v1/blobstores/file/nope").status_code == 404
    assert (
        call(fake, "PUT", "/service/rest/v1/blobstores/file/nope", json={"path": "x"}).status_code
        == 404
    )
    assert call(fake, "DELETE", "/service/rest/v1/blobstores/nope").status_code == 404


def test_blobstore_delete(fake: NexusFake) -> None:
    fake.add_blobstore("spare")
    assert call(fake, "DELETE", "/service/rest/v1/blobstores/spare").status_code == 204
    assert call(fake, "DELETE", "/service/rest/v1/blobstores/default").status_code == 400  # in use


# -- repositories: reads (§3, §4) ---------------------------------------------------------------


def test_default_repositories_are_listed_with_all_formats(fake: NexusFake) -> None:
    repos = {r["name"]: r for r in call(fake, "GET", REPOS).json()}
    assert set(repos) == {"maven-central", "maven-releases", "maven-snapshots", "maven-public"}
    assert repos["maven-central"]["format"] == "maven2"
    assert repos["maven-central"]["attributes"] == {
        "proxy": {"remoteUrl": "https://repo1.maven.org/maven2/"}
    }
    assert repos["maven-public"]["attributes"] == {}
    assert repos["maven-public"]["url"] == f"{fake.url}/repository/maven-public"


def test_repository_list_without_credentials_follows_anonymous_access(fake: NexusFake) -> None:
    assert call(fake, "GET", REPOS, auth=None).json() == []
    fake.anonymous["enabled"] = True
    assert len(call(fake, "GET", REPOS, auth=None).json()) == 4
    assert call(fake, "GET", REPOS, auth=("admin", "bad")).status_code == 401


def test_get_repository_by_name_finds_any_format(fake: NexusFake) -> None:
    got = call(fake, "GET", f"{REPOS}/maven-releases").json()
    assert (got["format"], got["type"]) == ("maven2", "hosted")
    missing = call(fake, "GET", f"{REPOS}/nope")
    assert (missing.status_code, missing.json()) == (404, "Repository not found")


def test_format_paths_filter_on_format_and_type(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    create(fake, "docker/group", docker_group_body("hub", ["hub-a"]))
    assert call(fake, "GET", f"{REPOS}/docker/proxy/hub").status_code == 404
    assert call(fake, "GET", f"{REPOS}/docker/group/hub-a").status_code == 404
    assert call(fake, "GET", f"{REPOS}/docker/proxy/maven-central").status_code == 404
    assert call(fake, "GET", f"{REPOS}/maven/proxy/maven-central").status_code == 200
    assert call(fake, "GET", f"{REPOS}/docker/group/hub").json()["group"]["memberNames"] == [
        "hub-a"
    ]


def test_docker_proxy_get_view_hides_secrets_and_has_extra_fields(fake: NexusFake) -> None:
    http = {
        "blocked": False,
        "autoBlock": True,
        "connection": {"retries": 1, "timeout": 20},
        "authentication": {"type": "username", "username": "u", "password": "p4ss"},
    }
    body = docker_proxy_body("hub-a", "https://a.test", httpClient=http)
    assert create(fake, "docker/proxy", body).status_code == 201
    view = call(fake, "GET", f"{REPOS}/docker/proxy/hub-a").json()
    assert "p4ss" not in repr(view) and "password" not in view["httpClient"]["authentication"]
    assert view["httpClient"]["authentication"] == {
        "type": "username",
        "username": "u",
        "ntlmHost": None,
        "ntlmDomain": None,
    }
    assert view["httpClient"]["connection"]["timeout"] == 20
    assert view["docker"]["httpPort"] is None and view["routingRuleName"] is None
    assert (
        view["firewall"] == {"mode": "DISABLED"}
        and view["proxy"]["preserveEncodedCharacters"] is False
    )
    assert fake.repos["hub-a"].body["httpClient"]["authentication"]["password"] == "p4ss"


def test_get_views_match_spec_response_definitions_once_nulls_dropped(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    create(fake, "docker/group", docker_group_body("hub", ["hub-a"]))

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        return value

    for kind, name, definition in (
        ("docker/proxy", "hub-a", "DockerProxyApiRepository"),
        ("docker/group", "hub", "DockerGroupApiRepository"),
    ):
        view = call(fake, "GET", f"{REPOS}/{kind}/{name}").json()
        assert spec_errors(NEXUS_SPEC, definition, strip(view)) == []


def test_repository_settings_lists_full_views(fake: NexusFake) -> None:
    settings = {
        s["name"]: s for s in call(fake, "GET", "/service/rest/v1/repositorySettings").json()
    }
    assert settings["maven-releases"]["storage"]["writePolicy"] == "ALLOW_ONCE"
    assert settings["maven-public"]["group"]["memberNames"][0] == "maven-releases"
    assert call(fake, "GET", "/service/rest/v1/repositorySettings", auth=None).status_code == 401


# -- repositories: writes (§3, §4, §6) ----------------------------------------------------------


def test_create_is_201_with_empty_body_and_no_location(fake: NexusFake) -> None:
    resp = create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    assert (resp.status_code, resp.content) == (201, b"")
    assert "Location" not in resp.headers
    assert fake.repos["hub-a"].format == "docker" and fake.repos["hub-a"].type == "proxy"


def test_update_is_204_and_replaces_the_settings(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    body = docker_proxy_body("hub-a", "https://b.test", online=False)
    resp = call(fake, "PUT", f"{REPOS}/docker/proxy/hub-a", json=body)
    assert (resp.status_code, resp.content) == (204, b"")
    view = call(fake, "GET", f"{REPOS}/docker/proxy/hub-a").json()
    assert (view["proxy"]["remoteUrl"], view["online"]) == ("https://b.test", False)


def test_put_on_missing_repository_is_404_not_upsert(fake: NexusFake) -> None:
    resp = call(
        fake,
        "PUT",
        f"{REPOS}/docker/proxy/ghost",
        json=docker_proxy_body("ghost", "https://a.test"),
    )
    assert (resp.status_code, resp.content) == (404, b"")
    assert "ghost" not in fake.repos


def test_duplicate_create_is_400_list_ignoring_case(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    resp = create(fake, "docker/proxy", docker_proxy_body("HUB-A", "https://a.test"))
    assert resp.status_code == 400 and resp.headers["Content-Type"] == VALIDATION_MEDIA_TYPE
    assert resp.json() == [
        {"id": "PARAMETER name", "message": "Name is already used, must be unique (ignoring case)"}
    ]
    assert "HUB-A" not in fake.repos


def test_duplicate_create_string_mode(nexus: Callable[..., NexusFake]) -> None:
    server = nexus(bootstrapped=True, duplicate_error="string")
    resp = create(server, "maven/hosted", maven_hosted_body("maven-releases"))
    assert resp.status_code == 400
    assert isinstance(resp.json(), str) and "duplicated key" in resp.json()


def test_group_members_must_exist_and_share_the_format(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    resp = create(
        fake, "docker/group", docker_group_body("hub", ["hub-a", "ghost", "maven-central"])
    )
    assert resp.status_code == 400
    assert resp.json() == [
        {"id": "memberNames", "message": "Member repository does not exist: ghost"},
        {
            "id": "memberNames",
            "message": "Member repository format does not match group repository format: "
            "maven-central",
        },
    ]
    assert "hub" not in fake.repos
    create(fake, "docker/group", docker_group_body("hub", ["hub-a"]))
    upd = call(
        fake, "PUT", f"{REPOS}/docker/group/hub", json=docker_group_body("hub", ["hub-a", "ghost"])
    )
    assert upd.status_code == 400 and fake.repos["hub"].body["group"]["memberNames"] == ["hub-a"]


def test_group_member_order_is_kept(fake: NexusFake) -> None:
    for name in ("c", "a", "b"):
        create(fake, "docker/proxy", docker_proxy_body(name, f"https://{name}.test"))
    create(fake, "docker/group", docker_group_body("hub", ["c", "a", "b"]))
    call(fake, "PUT", f"{REPOS}/docker/group/hub", json=docker_group_body("hub", ["b", "c", "a"]))
    assert call(fake, "GET", f"{REPOS}/docker/group/hub").json()["group"]["memberNames"] == [
        "b",
        "c",
        "a",
    ]


def test_writable_member_is_pro_only(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    body = docker_group_body(
        "hub", ["hub-a"], group={"memberNames": ["hub-a"], "writableMember": "hub-a"}
    )
    resp = create(fake, "docker/group", body)
    assert resp.status_code == 400 and resp.json()[0]["id"] == "writableMember"


def test_unknown_blobstore_on_create_is_400_string(fake: NexusFake) -> None:
    body = docker_proxy_body(
        "hub-a",
        "https://a.test",
        storage={"blobStoreName": "nope", "strictContentTypeValidation": True},
    )
    resp = create(fake, "docker/proxy", body)
    assert (resp.status_code, resp.json()) == (400, "Blob store not found")


def test_changing_the_blob_store_is_400_string(fake: NexusFake) -> None:
    fake.add_blobstore("other")
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    body = docker_proxy_body(
        "hub-a",
        "https://a.test",
        storage={"blobStoreName": "other", "strictContentTypeValidation": True},
    )
    resp = call(fake, "PUT", f"{REPOS}/docker/proxy/hub-a", json=body)
    assert (resp.status_code, resp.json()) == (
        400,
        "You cannot change a repository\u2019s blob store through the API",
    )


def test_renaming_via_put_is_400_string(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    resp = call(
        fake,
        "PUT",
        f"{REPOS}/docker/proxy/hub-a",
        json=docker_proxy_body("hub-b", "https://a.test"),
    )
    assert (resp.status_code, resp.json()) == (400, "Renaming a repository is not supported")


def test_put_to_the_wrong_format_path_is_400(fake: NexusFake) -> None:
    resp = call(
        fake,
        "PUT",
        f"{REPOS}/docker/proxy/maven-central",
        json=docker_proxy_body("maven-central", "https://a.test"),
    )
    assert resp.status_code == 400 and fake.repos["maven-central"].path_format == "maven"


def test_docker_connector_ports_are_unique(fake: NexusFake) -> None:
    docker = {"v1Enabled": False, "forceBasicAuth": False, "httpPort": 8082}
    assert (
        create(
            fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test", docker=docker)
        ).status_code
        == 201
    )
    clash = create(fake, "docker/group", docker_group_body("hub", ["hub-a"], docker=docker))
    assert clash.status_code == 400
    # the owner of the port may keep it on update
    same = call(
        fake,
        "PUT",
        f"{REPOS}/docker/proxy/hub-a",
        json=docker_proxy_body("hub-a", "https://b.test", docker=docker),
    )
    assert same.status_code == 204


def test_truststore_needs_an_https_remote(fake: NexusFake) -> None:
    http = {"blocked": False, "autoBlock": True, "connection": {"useTrustStore": True}}
    resp = create(
        fake, "docker/proxy", docker_proxy_body("hub-a", "http://a.test", httpClient=http)
    )
    assert (resp.status_code, resp.json()) == (
        400,
        "TrustStore is available only with HTTPS remote URLs",
    )


def test_custom_index_needs_an_index_url(fake: NexusFake) -> None:
    resp = create(
        fake,
        "docker/proxy",
        docker_proxy_body("hub-a", "https://a.test", dockerProxy={"indexType": "CUSTOM"}),
    )
    assert resp.status_code == 400


def test_cleanup_policies_must_exist(fake: NexusFake) -> None:
    body = docker_proxy_body("hub-a", "https://a.test", cleanup={"policyNames": ["weekly"]})
    assert create(fake, "docker/proxy", body).status_code == 400
    fake.cleanup_policies.add("weekly")
    assert create(fake, "docker/proxy", body).status_code == 201


def test_delete_is_204_and_removes_the_repository_from_groups(fake: NexusFake) -> None:
    create(fake, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    create(fake, "docker/proxy", docker_proxy_body("hub-b", "https://b.test"))
    create(fake, "docker/group", docker_group_body("hub", ["hub-a", "hub-b"]))
    resp = call(fake, "DELETE", f"{REPOS}/hub-a")
    assert (resp.status_code, resp.content) == (204, b"")
    assert fake.repos["hub"].body["group"]["memberNames"] == ["hub-b"]
    assert call(fake, "DELETE", f"{REPOS}/hub-a").status_code == 404


def test_maven_and_docker_hosted_can_be_created_as_foreign_repositories(fake: NexusFake) -> None:
    assert (
        create(fake, "maven/proxy", maven_proxy_body("jcenter", "https://jcenter.test")).status_code
        == 201
    )
    assert create(fake, "maven/hosted", maven_hosted_body("internal")).status_code == 201
    hosted = {
        "name": "local",
        "online": True,
        "docker": {"v1Enabled": False, "forceBasicAuth": True},
        "storage": {
            "blobStoreName": "default",
            "strictContentTypeValidation": True,
            "writePolicy": "allow",
        },
    }
    assert create(fake, "docker/hosted", hosted).status_code == 201
    view = call(fake, "GET", f"{REPOS}/maven/hosted/internal").json()
    assert (
        view["storage"]["writePolicy"] == "allow_once"
        and view["maven"]["versionPolicy"] == "RELEASE"
    )
    assert call(fake, "GET", f"{REPOS}/docker/hosted/local").json()["type"] == "hosted"
    assert fake.spec_violations == []


def test_invalidate_cache(fake: NexusFake) -> None:
    assert call(fake, "POST", f"{REPOS}/maven-central/invalidate-cache").status_code == 204
    assert call(fake, "POST", f"{REPOS}/maven-releases/invalidate-cache").status_code == 400
    assert call(fake, "POST", f"{REPOS}/ghost/invalidate-cache").status_code == 404


# -- spec validation ----------------------------------------------------------------------------


def test_spec_invalid_body_is_400_and_recorded(fake: NexusFake) -> None:
    body = docker_proxy_body("hub-a", "https://a.test")
    del body["httpClient"]
    body["negativeCache"]["timeToLive"] = "1440"
    resp = create(fake, "docker/proxy", body)
    assert resp.status_code == 400 and resp.headers["Content-Type"] == VALIDATION_MEDIA_TYPE
    ids = {item["id"] for item in resp.json()}
    assert ids == {"*", "PARAMETER negativeCache.timeToLive"}
    assert len(fake.spec_violations) == 2
    assert all("[DockerProxyRepositoryApiRequest]" in v for v in fake.spec_violations)
    assert "hub-a" not in fake.repos


def test_null_values_are_spec_violations(fake: NexusFake) -> None:
    # Swagger 2.0 has no nullable: a client must omit unset fields rather than send null.
    body = docker_proxy_body(
        "hub-a",
        "https://a.test",
        docker={"v1Enabled": False, "forceBasicAuth": False, "httpPort": None},
    )
    assert create(fake, "docker/proxy", body).status_code == 400
    assert any("httpPort" in v for v in fake.spec_violations)


def test_bad_name_pattern_is_a_spec_violation(fake: NexusFake) -> None:
    assert (
        create(fake, "docker/proxy", docker_proxy_body("_bad name", "https://a.test")).status_code
        == 400
    )
    assert fake.spec_violations


def test_malformed_json_is_400_and_recorded(fake: NexusFake) -> None:
    resp = call(
        fake,
        "POST",
        f"{REPOS}/docker/proxy",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and fake.spec_violations


def test_json_endpoints_refuse_other_content_types_with_415(fake: NexusFake) -> None:
    resp = call(
        fake,
        "POST",
        f"{REPOS}/docker/proxy",
        data=json.dumps(docker_proxy_body("a", "https://a.test")),
        headers={"Content-Type": "text/plain"},
    )
    assert resp.status_code == 415 and "a" not in fake.repos


def test_violations_can_be_recorded_without_rejecting(nexus: Callable[..., NexusFake]) -> None:
    server = nexus(bootstrapped=True, reject_spec_violations=False)
    body = docker_proxy_body("hub-a", "https://a.test", routingRule=None)
    assert create(server, "docker/proxy", body).status_code == 201
    assert len(server.spec_violations) == 1


def test_unknown_fields_are_recorded_not_rejected(fake: NexusFake) -> None:
    body = docker_proxy_body("hub-a", "https://a.test", routingRuleName="rule", format="docker")
    assert create(fake, "docker/proxy", body).status_code == 201
    assert fake.spec_violations == []
    assert sorted(u.split(": ")[1] for u in fake.unknown_fields) == ["format", "routingRuleName"]


def test_helper_bodies_are_spec_valid() -> None:
    assert (
        spec_errors(
            NEXUS_SPEC, "DockerProxyRepositoryApiRequest", docker_proxy_body("a", "https://a")
        )
        == []
    )
    assert (
        spec_errors(NEXUS_SPEC, "DockerGroupRepositoryApiRequest", docker_group_body("g", ["a"]))
        == []
    )
    assert (
        spec_errors(
            NEXUS_SPEC, "MavenProxyRepositoryApiRequest", maven_proxy_body("m", "https://m")
        )
        == []
    )
    assert spec_errors(NEXUS_SPEC, "MavenHostedRepositoryApiRequest", maven_hosted_body("h")) == []


def test_every_route_is_an_operation_of_the_spec() -> None:
    paths = spec()["paths"]
    for route in ROUTES:
        for fmt in ("docker", "maven"):
            for rtype in ("proxy", "hosted", "group"):
                template = route.template.format(fmt=fmt, type=rtype)
                assert route.method.lower() in paths.get(template, {}), (route.method, template)


# -- harness ------------------------------------------------------------------------------------


def test_unknown_path_404_and_wrong_method_405(fake: NexusFake) -> None:
    assert call(fake, "GET", "/service/rest/v1/nothing").status_code == 404
    assert call(fake, "GET", f"{REPOS}/docker/proxy").status_code == 405
    assert call(fake, "GET", "/elsewhere").status_code == 404


def test_write_count_and_planted_state(fake: NexusFake) -> None:
    fake.add_repository(docker_proxy_body("planted", "https://p.test"))
    assert fake.write_count() == 0
    assert call(fake, "GET", f"{REPOS}/docker/proxy/planted").status_code == 200
    create(fake, "docker/group", docker_group_body("hub", ["planted"]))
    call(fake, "DELETE", f"{REPOS}/hub")
    assert fake.write_count() == 2


def test_faults_and_latency_from_the_base(fake: NexusFake) -> None:
    fake.inject(Fault("500", method="GET", path_prefix=REPOS))
    assert call(fake, "GET", REPOS).status_code == 500
    assert call(fake, "GET", REPOS).status_code == 200
    fake.latency = 0.05
    started = time.monotonic()
    call(fake, "GET", "/service/rest/v1/status")
    assert time.monotonic() - started >= 0.05


def test_reset_restores_the_initial_state(nexus: Callable[..., NexusFake]) -> None:
    server = nexus(bootstrapped=True, latency=0.0)
    create(server, "docker/proxy", docker_proxy_body("hub-a", "https://a.test"))
    server.latency, server.frozen = 1.0, True
    server.inject(Fault("500"))
    server.reset()
    assert "hub-a" not in server.repos and server.requests == [] and server.faults == []
    assert (server.latency, server.frozen) == (0.0, False)
    with pytest.raises(TypeError):
        server.reset(colour="blue")


def test_main_serves_on_the_given_port(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.nexus",
            "--port",
            str(port),
            "--fresh",
            "--password-file",
            str(tmp_path / "admin.password"),
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == f"fake nexus listening on http://127.0.0.1:{port}"
        password = proc.stdout.readline().split(": ", 1)[1].strip()
        assert (tmp_path / "admin.password").read_text(encoding="utf-8") == password
        base = f"http://127.0.0.1:{port}/service/rest"
        assert requests.get(base + "/v1/status", timeout=5).status_code == 200
        assert (
            requests.get(base + "/v1/system/eula", auth=("admin", password), timeout=5).json()[
                "accepted"
            ]
            is False
        )
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0

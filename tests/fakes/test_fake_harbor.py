"""Tests of the fake Harbor: one or more per behaviour recorded in shared/reference/harbor.md.

They talk HTTP with ``requests`` only: ``plain`` is a Session that refuses cookies (how a Harbor
API client must behave, §0.7), ``browser`` keeps them (and so trips Harbor's CSRF check).
"""

from __future__ import annotations

import http.cookiejar
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fakes.base import FakeServer, Request, Response
from tests.fakes.harbor import FakeHarbor
from tests.fakes.spec import HARBOR_SPEC, spec_errors

ADMIN = ("admin", "Harbor12345")
PROXY_META = {"public": "true", "proxy_speed_kb": "-1", "max_upstream_conn": "-1",
              "proxy_cache_local_on_not_found": "true"}


@pytest.fixture
def fake() -> Iterator[FakeHarbor]:
    with FakeHarbor(login_lock_seconds=0) as server:
        yield server
    assert server.spec_violations == [], "a test sent an off-spec body without clearing it"


@pytest.fixture
def plain() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


@pytest.fixture
def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def errors_of(resp: requests.Response) -> list[dict[str, Any]]:
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = resp.json()
    return list(body["errors"])


def error(resp: requests.Response) -> tuple[int, str, str]:
    (err,) = errors_of(resp)
    return resp.status_code, err["code"], err["message"]


def new_registry(fake: FakeHarbor, s: requests.Session, name: str = "up",
                 url: str = "https://mirror.example.com", **extra: Any) -> requests.Response:
    body = {"name": name, "type": "docker-registry", "url": url, "insecure": False,
            "credential": {"type": "basic", "access_key": "user", "access_secret": "s3cret"}}
    body.update(extra)
    return s.post(fake.api + "/registries", json=body, auth=ADMIN)


# -- auth (§1) --------------------------------------------------------------------------------
def test_bad_credentials_become_anonymous(fake: FakeHarbor, plain: requests.Session) -> None:
    fake.add_project("private-one")
    bad = ("admin", "wrong")
    resp = plain.get(fake.api + "/projects", auth=bad)
    assert resp.status_code == 200
    assert [p["name"] for p in resp.json()] == ["library"]  # only public ones
    assert error(plain.get(fake.api + "/users/current", auth=bad)) == (
        401, "UNAUTHORIZED", "unauthorized")
    assert plain.get(fake.api + "/users/current").status_code == 401
    assert new_registry(fake, plain).status_code == 201  # sanity: admin works
    anon = plain.post(fake.api + "/projects", json={"project_name": "x"}, auth=bad)
    assert error(anon)[:2] == (401, "UNAUTHORIZED")
    assert plain.get(fake.api + "/registries", auth=bad).status_code == 401


def test_current_user_and_non_admin_forbidden(fake: FakeHarbor, plain: requests.Session) -> None:
    me = plain.get(fake.api + "/users/current", auth=ADMIN).json()
    assert me["user_id"] == 1 and me["username"] == "admin" and me["sysadmin_flag"] is True
    assert spec_errors(HARBOR_SPEC, "UserResp", me) == []
    fake.add_user("dev", "Dev12345")
    assert error(plain.get(fake.api + "/registries", auth=("dev", "Dev12345")))[:2] == (
        403, "FORBIDDEN")


def test_failed_login_sleeps_and_locks_the_username(plain: requests.Session) -> None:
    with FakeHarbor(login_lock_seconds=0.4) as fake:
        results: dict[str, int] = {}

        def failing() -> None:
            started = time.monotonic()
            plain.get(fake.api + "/users/current", auth=("admin", "nope"))
            results["elapsed_ms"] = int((time.monotonic() - started) * 1000)

        thread = threading.Thread(target=failing)
        thread.start()
        time.sleep(0.15)  # during the lock even the right password fails
        results["during"] = plain.get(fake.api + "/users/current", auth=ADMIN).status_code
        thread.join()
        time.sleep(0.3)
        assert results["during"] == 401
        assert results["elapsed_ms"] >= 400
        assert plain.get(fake.api + "/users/current", auth=ADMIN).status_code == 200


# -- password (§6) ----------------------------------------------------------------------------
def test_password_rotation(fake: FakeHarbor, plain: requests.Session) -> None:
    url = fake.api + "/users/1/password"
    assert fake.is_fresh
    weak = plain.put(url, json={"old_password": "Harbor12345", "new_password": "short"}, auth=ADMIN)
    assert error(weak)[:2] == (400, "BAD_REQUEST")
    for pw in ("alllowercase1", "ALLUPPERCASE1", "NoDigitsHere", "Aa1" * 43):
        resp = plain.put(url, json={"old_password": "Harbor12345", "new_password": pw}, auth=ADMIN)
        assert resp.status_code == 400, pw
    wrong = plain.put(url, json={"old_password": "nope", "new_password": "N3wPassw0rd"}, auth=ADMIN)
    assert error(wrong) == (403, "FORBIDDEN", "Current password is incorrect")
    no_old = plain.put(url, json={"new_password": "N3wPassw0rd"}, auth=ADMIN)
    assert no_old.status_code == 403  # old_password is required for one's own password
    same = plain.put(url, json={"old_password": "Harbor12345", "new_password": "Harbor12345"},
                     auth=ADMIN)
    assert error(same) == (400, "BAD_REQUEST", "New password is identical to old password")
    ok = plain.put(url, json={"old_password": "Harbor12345", "new_password": "N3wPassw0rd"},
                   auth=ADMIN)
    assert ok.status_code == 200 and ok.content == b""
    assert fake.admin_password == "N3wPassw0rd" and not fake.is_fresh
    assert plain.get(fake.api + "/users/current", auth=ADMIN).status_code == 401
    assert plain.get(fake.api + "/users/current", auth=("admin", "N3wPassw0rd")).status_code == 200


def test_already_rotated_instance_and_other_users(plain: requests.Session) -> None:
    with FakeHarbor(admin_password="Rotated123", login_lock_seconds=0) as fake:
        assert not fake.is_fresh
        assert plain.get(fake.api + "/users/current", auth=ADMIN).status_code == 401
        uid = fake.add_user("dev", "Dev12345")
        body = {"old_password": "Dev12345", "new_password": "Dev54321x"}
        denied = plain.put(f"{fake.api}/users/1/password", json=body, auth=("dev", "Dev12345"))
        assert error(denied) == (403, "FORBIDDEN", "User with ID 1 can't be updated")
        by_admin = plain.put(f"{fake.api}/users/{uid}/password", json={"new_password": "Dev54321x"},
                             auth=("admin", "Rotated123"))
        assert by_admin.status_code == 200 and fake.users["dev"]["password"] == "Dev54321x"


# -- liveness, version (§2) -------------------------------------------------------------------
def test_ping_health_and_startup(fake: FakeHarbor, plain: requests.Session) -> None:
    pong = plain.get(fake.api + "/ping")
    assert (pong.status_code, pong.text) == (200, "Pong")
    assert pong.headers["Content-Type"] == "text/plain"
    fake.fail_ping(2)
    assert [plain.get(fake.api + "/ping").status_code for _ in range(3)] == [502, 502, 200]
    health = plain.get(fake.api + "/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert {c["name"] for c in health.json()["components"]} >= {"core", "database", "registry"}
    fake.unhealthy_components.add("redis")
    sick = plain.get(fake.api + "/health")
    assert sick.status_code == 200 and sick.json()["status"] == "unhealthy"  # always 200
    assert spec_errors(HARBOR_SPEC, "OverallHealthStatus", sick.json()) == []


def test_systeminfo_version_only_when_authenticated(plain: requests.Session) -> None:
    with FakeHarbor(version="v2.14.1-deadbeef", login_lock_seconds=0) as fake:
        anon = plain.get(fake.api + "/systeminfo").json()
        assert "harbor_version" not in anon and "external_url" not in anon
        full = plain.get(fake.api + "/systeminfo", auth=ADMIN).json()
        assert full["harbor_version"] == "v2.14.1-deadbeef"
        assert spec_errors(HARBOR_SPEC, "GeneralInfo", full) == []


# -- session, CSRF, request ids, error shapes (§0.7, §1) --------------------------------------
def test_cookies_trip_csrf_on_writes(fake: FakeHarbor, browser: requests.Session,
                                     plain: requests.Session) -> None:
    first = browser.get(fake.api + "/ping")
    assert first.headers["Set-Cookie"].startswith("sid=") and "sid" in browser.cookies
    assert browser.get(fake.api + "/registries", auth=ADMIN).status_code == 200  # reads pass
    resp = new_registry(fake, browser)
    assert resp.status_code == 403
    assert resp.json() == {"errors": [{"code": "FORBIDDEN", "message": "CSRF token invalid"}]}
    assert fake.registries == {}
    retry = browser.post(fake.api + "/registries/ping", json={"type": "docker-registry",
                                                              "url": "https://x.example"},
                         auth=ADMIN, headers={"X-Harbor-CSRF-Token": resp.headers[
                             "X-Harbor-CSRF-Token"]})
    assert retry.status_code == 200  # TF's retry with the token header works
    assert new_registry(fake, plain).status_code == 201  # no cookies: no CSRF


def test_request_id_echo_and_go_swagger_errors(fake: FakeHarbor, plain: requests.Session) -> None:
    resp = plain.get(fake.api + "/ping", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
    assert len(plain.get(fake.api + "/ping").headers["X-Request-Id"]) == 36
    missing = plain.get(fake.api + "/nothing-here", auth=ADMIN)
    assert error(missing) == (404, "NOT_FOUND", "path /api/v2.0/nothing-here was not found")
    assert error(plain.patch(fake.api + "/registries", auth=ADMIN))[:2] == (
        405, "METHOD_NOT_ALLOWED")


def test_5xx_body_is_generic(fake: FakeHarbor, plain: requests.Session) -> None:
    resp = new_registry(fake, plain, type="no-such-adapter")
    assert resp.status_code == 500  # unknown type: adapter factory error (§3)
    assert resp.json() == {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}
    assert "adapter factory for no-such-adapter not found" in fake.server_errors[0]


# -- registries (§0.2-§0.3, §0.8, §3) ---------------------------------------------------------
def test_registry_create_get_masked(fake: FakeHarbor, plain: requests.Session) -> None:
    resp = new_registry(fake, plain, url="  https://mirror.example.com/v2/?x=1#frag ")
    assert resp.status_code == 201 and resp.content == b""
    assert resp.headers["Location"] == "/api/v2.0/registries/1"
    stored = fake.registries[1]
    assert stored["url"] == "https://mirror.example.com/v2/"  # query/fragment dropped
    assert stored["credential"]["access_secret"] == "s3cret"
    got = plain.get(fake.api + "/registries/1", auth=ADMIN).json()
    assert got["credential"] == {"type": "basic", "access_key": "user", "access_secret": "*****"}
    assert got["status"] == "healthy" and "insecure" not in got  # Go omitempty drops false
    assert "x_fake_extra" in got  # unknown extra fields a client must ignore
    assert spec_errors(HARBOR_SPEC, "Registry", got) == []
    assert error(plain.get(fake.api + "/registries/99", auth=ADMIN)) == (
        404, "NOT_FOUND", "registry 99 not found")


def test_registry_url_normalisation(fake: FakeHarbor, plain: requests.Session) -> None:
    assert new_registry(fake, plain, name="a", url=" mirror.example.com/ ").status_code == 201
    assert fake.registries[1]["url"] == "http://mirror.example.com"
    bad = new_registry(fake, plain, name="b", url="ftp://mirror.example.com")
    assert error(bad) == (400, "BAD_REQUEST", "invalid HTTP scheme: ftp")
    assert error(new_registry(fake, plain, name="", url="https://x.example")) == (
        400, "BAD_REQUEST", "name cannot be empty")
    assert error(new_registry(fake, plain, name="n" * 65))[2] == "the max length of name is 64"


def test_registry_duplicate_and_unhealthy(fake: FakeHarbor, plain: requests.Session) -> None:
    assert new_registry(fake, plain).status_code == 201
    assert error(new_registry(fake, plain)) == (409, "CONFLICT", "registry up already exists")
    fake.mark_down("https://down.example.com/")
    down = new_registry(fake, plain, name="other", url="https://down.example.com")
    assert error(down) == (400, "BAD_REQUEST", "the registry is unhealthy")
    fake.mark_up("https://down.example.com")
    again = new_registry(fake, plain, name="other", url="https://down.example.com")
    assert again.status_code == 201


def test_registry_update_flat_body(fake: FakeHarbor, plain: requests.Session) -> None:
    rid = fake.add_registry("up", "https://a.example", access_key="user", access_secret="s1")
    url = f"{fake.api}/registries/{rid}"
    assert plain.put(url, json={"description": "d"}, auth=ADMIN).status_code == 200
    reg = fake.registries[rid]
    assert (reg["url"], reg["description"], reg["credential"]["access_secret"]) == (
        "https://a.example", "d", "s1")  # nil fields kept
    assert plain.put(url, json={"url": "https://b.example/"}, auth=ADMIN).status_code == 200
    assert fake.registries[rid]["url"] == "https://b.example"
    assert fake.registries[rid]["credential"]["access_secret"] == ""  # URL change cleared it
    body = {"url": "https://c.example", "access_key": "user", "access_secret": "s2"}
    assert plain.put(url, json=body, auth=ADMIN).status_code == 200
    assert fake.registries[rid]["credential"]["access_secret"] == "s2"
    fake.mark_down("https://c.example")
    renamed = plain.put(url, json={"name": "renamed"}, auth=ADMIN)
    assert error(renamed)[2] == "the registry is unhealthy"  # even a rename pings (§0.3)
    assert fake.registries[rid]["name"] == "up"
    swap = plain.put(url, json={"url": "https://d.example", "access_secret": "s2"}, auth=ADMIN)
    assert swap.status_code == 200 and fake.registries[rid]["status"] == "healthy"
    fake.mark_down("https://e.example")
    assert plain.put(url, json={"url": "https://e.example"}, auth=ADMIN).status_code == 400
    assert fake.registries[rid]["url"] == "https://d.example"
    assert plain.put(url, json={"access_key": ""}, auth=ADMIN).status_code == 200
    assert fake.registries[rid]["credential"] == {}  # no key: no credential at all


def test_registry_update_conflict_and_keep_secret_mode(plain: requests.Session) -> None:
    with FakeHarbor(url_change_clears_secret=False, login_lock_seconds=0) as fake:
        a = fake.add_registry("a", "https://a.example", access_key="k", access_secret="s")
        fake.add_registry("b", "https://b.example")
        taken = plain.put(f"{fake.api}/registries/{a}", json={"name": "b"}, auth=ADMIN)
        assert error(taken) == (409, "CONFLICT", "registry b already exists")
        moved = plain.put(f"{fake.api}/registries/{a}", json={"url": "https://z.example"},
                          auth=ADMIN)
        assert moved.status_code == 200 and fake.registries[a]["credential"]["access_secret"] == "s"


def test_registry_delete(fake: FakeHarbor, plain: requests.Session) -> None:
    used = fake.add_registry("used", "https://a.example")
    free = fake.add_registry("free", "https://b.example")
    fake.add_project("cache", registry_id=used)
    assert error(plain.delete(f"{fake.api}/registries/{used}", auth=ADMIN)) == (
        412, "PRECONDITION",
        f"the registry {used} is referenced by proxy cache project, cannot delete it")
    assert plain.delete(f"{fake.api}/registries/{free}", auth=ADMIN).status_code == 200
    assert free not in fake.registries
    assert plain.delete(f"{fake.api}/registries/{free}", auth=ADMIN).status_code == 404


def test_registry_ping(fake: FakeHarbor, plain: requests.Session) -> None:
    rid = fake.add_registry("up", "https://a.example", access_key="k", access_secret="s")
    ping = fake.api + "/registries/ping"
    assert plain.post(ping, json={"id": rid}, auth=ADMIN).status_code == 200
    assert plain.post(ping, json={"id": 42}, auth=ADMIN).status_code == 404
    assert error(plain.post(ping, json={"url": "https://a.example"}, auth=ADMIN)) == (
        400, "BAD_REQUEST", "type or url cannot be empty")
    fake.mark_down("https://a.example")
    assert error(plain.post(ping, json={"id": rid}, auth=ADMIN))[2] == "the registry is unhealthy"
    by_body = {"type": "docker-registry", "url": "https://b.example", "access_key": "k"}
    assert plain.post(ping, json=by_body, auth=ADMIN).status_code == 200
    unknown = plain.post(ping, json={"type": "nope", "url": "https://b.example"}, auth=ADMIN)
    assert unknown.status_code == 500
    fake.run_health_check()
    assert fake.registries[rid]["status"] == "unhealthy"  # the 5-minute checker's view


class _Upstream(FakeServer):
    def handle(self, request: Request) -> Response:
        return Response.text("unauthorized", 401) if request.path == "/v2/" else Response(404)


def test_real_ping_mode(plain: requests.Session) -> None:
    with FakeHarbor(real_ping=True, ping_timeout=1.0, login_lock_seconds=0) as fake:
        with _Upstream() as upstream:
            ok = new_registry(fake, plain, name="live", url=upstream.url)
            assert ok.status_code == 201  # 401 on /v2/ counts as healthy (§3)
            port = upstream.port
        dead = new_registry(fake, plain, name="dead", url=f"http://127.0.0.1:{port}")
        assert error(dead)[2] == "the registry is unhealthy"  # nothing listens any more


def test_registry_list_paging_and_filters(fake: FakeHarbor, plain: requests.Session) -> None:
    for i in range(150):
        fake.add_registry(f"reg-{i:03d}", f"https://m{i}.example")
    first = plain.get(fake.api + "/registries", auth=ADMIN)
    assert len(first.json()) == 10 and first.headers["X-Total-Count"] == "150"
    assert first.headers["Link"] == '</api/v2.0/registries?page=2&page_size=10>; rel="next"'
    params: dict[str, str | int] = {"page": 3, "page_size": 50, "q": "type=docker-registry"}
    middle = plain.get(fake.api + "/registries", params=params, auth=ADMIN)
    assert [r["name"] for r in middle.json()][0] == "reg-100"
    assert middle.headers["Link"] == (
        '</api/v2.0/registries?page=2&page_size=50&q=type=docker-registry>; rel="prev"')
    second = plain.get(fake.api + "/registries", params={"page": 2, "page_size": 50}, auth=ADMIN)
    assert second.headers["Link"] == (
        '</api/v2.0/registries?page=1&page_size=50>; rel="prev" , '
        '</api/v2.0/registries?page=3&page_size=50>; rel="next"')
    too_big = plain.get(fake.api + "/registries", params={"page_size": 101}, auth=ADMIN)
    assert error(too_big) == (422, "UNPROCESSABLE_ENTITY", "validation failure list:\n"
                              "page_size in query should be less than or equal to 100")
    exact = plain.get(fake.api + "/registries", params={"q": "name=reg-007"}, auth=ADMIN)
    assert [r["name"] for r in exact.json()] == ["reg-007"] and "Link" not in exact.headers
    fuzzy = plain.get(fake.api + "/registries", params={"name": "REG-14"}, auth=ADMIN)
    assert fuzzy.headers["X-Total-Count"] == "10"  # deprecated name= is fuzzy
    ors = plain.get(fake.api + "/registries", params={"q": "name={reg-001 reg-002}"}, auth=ADMIN)
    assert len(ors.json()) == 2
    bad_q = plain.get(fake.api + "/registries", params={"q": "name"}, auth=ADMIN)
    assert bad_q.status_code == 400


# -- projects (§0.1, §1, §4, §5, §9) ----------------------------------------------------------
def test_project_create_location_and_conflict(fake: FakeHarbor, plain: requests.Session) -> None:
    rid = fake.add_registry("hub", "https://mirror.example.com")
    body = {"project_name": "dockerhub", "registry_id": rid, "storage_limit": -1,
            "metadata": PROXY_META}
    resp = plain.post(fake.api + "/projects", json=body, auth=ADMIN)
    assert resp.status_code == 201 and resp.content == b""
    assert resp.headers["Location"] == "/api/v2.0/projects/2"  # library is project 1
    named = plain.post(fake.api + "/projects", json={"project_name": "plain"}, auth=ADMIN,
                       headers={"X-Resource-Name-In-Location": "true"})
    assert named.headers["Location"] == "/api/v2.0/projects/plain"
    dup = plain.post(fake.api + "/projects", json=body, auth=ADMIN)
    assert error(dup) == (409, "CONFLICT", "The project named dockerhub already exists")
    project = plain.get(fake.api + "/projects/dockerhub", auth=ADMIN).json()
    assert project["registry_id"] == rid and project["metadata"]["retention_id"] == "1"
    assert fake.retentions[1]["rules"][0]["template"] == "nDaysSinceLastPull"
    assert spec_errors(HARBOR_SPEC, "Project", project) == []
    normal = plain.get(fake.api + "/projects/plain", auth=ADMIN).json()
    assert "registry_id" not in normal and normal["metadata"] == {"public": "false"}
    bad_name = plain.post(fake.api + "/projects", json={"project_name": "Bad_Name"}, auth=ADMIN)
    assert error(bad_name)[2] == "project name is not in lower case or contains illegal characters"


def test_project_create_rules(fake: FakeHarbor, plain: requests.Session) -> None:
    fake.add_user("dev", "Dev12345")
    rid = fake.add_registry("hub", "https://mirror.example.com")
    quay = fake.add_registry("quay", "https://quay.example", type="quay")
    post = fake.api + "/projects"
    proxy = {"project_name": "p", "registry_id": rid}
    assert error(plain.post(post, json=proxy, auth=("dev", "Dev12345"))) == (
        403, "FORBIDDEN", "Only system admin can create proxy cache project")
    mine = plain.post(post, json={"project_name": "mine"}, auth=("dev", "Dev12345"))
    assert mine.status_code == 201 and fake.projects["mine"]["owner_name"] == "dev"
    assert plain.post(post, json={**proxy, "registry_id": 999}, auth=ADMIN).status_code == 500
    zero = plain.post(post, json={**proxy, "registry_id": 0}, auth=ADMIN)
    assert error(zero)[2].startswith("bad request: 0 is invalid value of registry_id")
    assert error(plain.post(post, json={**proxy, "registry_id": quay}, auth=ADMIN))[2] == (
        "bad request: unsupported registry type quay")  # quay dropped in v2.14
    slow = {**proxy, "metadata": {"proxy_speed_kb": "fast"}}
    assert error(plain.post(post, json=slow, auth=ADMIN))[2].startswith(
        "metadata.proxy_speed_kb should by an int32, but got: 'fast'")
    yes = plain.post(post, json={"project_name": "q", "metadata": {"public": "yes"}}, auth=ADMIN)
    assert error(yes)[2] == "metadata.public should only be 'true' or 'false', but got: 'yes'"
    rid_meta = {**proxy, "metadata": {"retention_id": "7"}}
    assert plain.post(post, json=rid_meta, auth=ADMIN).status_code == 400
    non_proxy = {"project_name": "np", "metadata": {"public": "true", "proxy_speed_kb": "10"}}
    assert plain.post(post, json=non_proxy, auth=ADMIN).status_code == 201
    assert fake.projects["np"]["metadata"] == {"public": "true"}  # proxy keys dropped


def test_project_head_and_name_or_id(fake: FakeHarbor, plain: requests.Session) -> None:
    fake.add_project("2024")  # all-digit names exist
    head = fake.api + "/projects"
    assert plain.head(head, params={"project_name": "2024"}, auth=ADMIN).status_code == 200
    missing = plain.head(head, params={"project_name": "nope"}, auth=ADMIN)
    assert missing.status_code == 404 and missing.content == b""
    assert plain.head(head, params={"project_name": "nope"}).status_code == 401
    as_id = plain.get(fake.api + "/projects/2024", auth=ADMIN)
    assert error(as_id) == (404, "NOT_FOUND", "project 2024 not found")
    as_name = plain.get(fake.api + "/projects/2024", auth=ADMIN,
                        headers={"X-Is-Resource-Name": "true"})
    assert as_name.status_code == 200 and as_name.json()["name"] == "2024"
    by_id = plain.get(fake.api + "/projects/1", auth=ADMIN).json()
    assert by_id["name"] == "library"
    assert plain.get(fake.api + "/projects/library").status_code == 200  # public: anonymous ok
    assert plain.get(fake.api + "/projects/2024").status_code == 401


def test_project_update_ignores_registry_id(fake: FakeHarbor, plain: requests.Session) -> None:
    old = fake.add_registry("old", "https://a.example")
    new = fake.add_registry("new", "https://b.example")
    project = fake.add_project("cache", registry_id=old, public=True)
    retention = project["metadata"]["retention_id"]
    url = fake.api + "/projects/cache"
    body = {"registry_id": new, "metadata": {"proxy_speed_kb": "1024", "public": "false"}}
    assert plain.put(url, json=body, auth=ADMIN).status_code == 200
    got = plain.get(url, auth=ADMIN).json()
    assert got["registry_id"] == old  # silently ignored (§0.1)
    assert got["metadata"] == {"public": "false", "proxy_speed_kb": "1024",
                               "retention_id": retention}
    assert any("registry_id" in f for f in fake.ignored_fields)
    same = {"metadata": {"retention_id": retention}}
    assert plain.put(url, json=same, auth=ADMIN).status_code == 200
    other = plain.put(url, json={"metadata": {"retention_id": "99"}}, auth=ADMIN)
    assert error(other)[:2] == (400, "BAD_REQUEST")
    unchecked = plain.put(url, json={"metadata": {"public": "maybe"}}, auth=ADMIN)
    assert unchecked.status_code == 200  # update does not validate values (§4)
    fake.add_user("dev", "Dev12345")
    assert plain.put(url, json={}, auth=("dev", "Dev12345")).status_code == 403


def test_metadata_values_must_be_strings(fake: FakeHarbor, plain: requests.Session) -> None:
    resp = plain.post(fake.api + "/projects", auth=ADMIN,
                      json={"project_name": "x", "metadata": {"public": True}})
    assert error(resp)[:2] == (422, "UNPROCESSABLE_ENTITY")
    assert any("metadata/public" in v for v in fake.spec_violations)
    assert "x" not in fake.projects
    fake.spec_violations.clear()


@pytest.mark.parametrize("version, kept", [
    ("v2.11.2-aaaa", set()),
    ("v2.12.0-aaaa", {"proxy_speed_kb"}),
    ("v2.15.0-aaaa", {"proxy_speed_kb", "max_upstream_conn"}),
    ("v2.15.2-aaaa", {"proxy_speed_kb", "max_upstream_conn", "proxy_cache_local_on_not_found"}),
])
def test_proxy_metadata_gated_by_version(version: str, kept: set[str],
                                         plain: requests.Session) -> None:
    with FakeHarbor(version=version, login_lock_seconds=0) as fake:
        rid = fake.add_registry("hub", "https://mirror.example.com")
        body = {"project_name": "dh", "registry_id": rid, "metadata": PROXY_META}
        assert plain.post(fake.api + "/projects", json=body, auth=ADMIN).status_code == 201
        meta = plain.get(fake.api + "/projects/dh", auth=ADMIN).json()["metadata"]
        assert set(meta) - {"public", "retention_id"} == kept
        assert len(fake.ignored_fields) == 3 - len(kept)


def test_project_delete(fake: FakeHarbor, plain: requests.Session) -> None:
    rid = fake.add_registry("hub", "https://mirror.example.com")
    fake.add_project("cache", registry_id=rid)
    fake.projects["cache"]["repo_count"] = 3
    url = fake.api + "/projects/cache"
    deletable = plain.get(url + "/_deletable", auth=ADMIN).json()
    assert deletable["deletable"] is False
    assert error(plain.delete(url, auth=ADMIN)) == (
        412, "PRECONDITION", "precondition failed: the project contains repositories, "
                             "can not be deleted")
    fake.projects["cache"]["repo_count"] = 0
    summary = plain.get(url + "/summary", auth=ADMIN).json()
    assert summary["registry"]["id"] == rid and "access_secret" not in summary["registry"][
        "credential"]
    assert plain.delete(url, auth=ADMIN).status_code == 200 and "cache" not in fake.projects
    assert plain.delete(f"{fake.api}/registries/{rid}", auth=ADMIN).status_code == 200


def test_project_list_paging_and_visibility(fake: FakeHarbor, plain: requests.Session) -> None:
    for i in range(150):
        fake.add_project(f"p{i:03d}", public=i % 2 == 0)
    all_ = plain.get(fake.api + "/projects", params={"page_size": 100}, auth=ADMIN)
    assert all_.headers["X-Total-Count"] == "151" and len(all_.json()) == 100
    assert all_.headers["Link"] == '</api/v2.0/projects?page=2&page_size=100>; rel="next"'
    anon = plain.get(fake.api + "/projects")
    assert anon.headers["X-Total-Count"] == "76"  # 75 public + library
    assert plain.get(fake.api + "/projects", params={"public": "false"}).json() == []
    q = plain.get(fake.api + "/projects", params={"q": "name=~p01"}, auth=ADMIN)
    assert q.headers["X-Total-Count"] == "10"
    by_name = plain.get(fake.api + "/projects", params={"name": "p149"}, auth=ADMIN)
    assert [p["name"] for p in by_name.json()] == ["p149"]
    none = plain.get(fake.api + "/projects", params={"name": "zzz"}, auth=ADMIN)
    assert none.json() == [] and none.headers["X-Total-Count"] == "0" and "Link" not in none.headers


# -- spec binding (§1 422) --------------------------------------------------------------------
def test_spec_validation_of_bodies(fake: FakeHarbor, plain: requests.Session) -> None:
    bad = new_registry(fake, plain, insecure="yes")
    assert error(bad)[:2] == (422, "UNPROCESSABLE_ENTITY") and fake.registries == {}
    assert any("insecure" in v for v in fake.spec_violations)
    fake.spec_violations.clear()
    rid = fake.add_registry("up", "https://a.example")
    nullable = plain.put(f"{fake.api}/registries/{rid}", json={"description": None}, auth=ADMIN)
    assert nullable.status_code == 200 and fake.spec_violations == []  # x-nullable: nil pointer
    plain.put(f"{fake.api}/registries/{rid}", json={"description": "x", "type": "harbor"},
              auth=ADMIN)
    assert any(f.endswith(": type") for f in fake.ignored_fields)  # RegistryUpdate has no type
    assert fake.registries[rid]["type"] == "docker-registry"
    not_null = new_registry(fake, plain, name="n", description=None)
    assert not_null.status_code == 201  # Go accepts it, but the spec says string
    assert any("null on a non-nullable" in v for v in fake.spec_violations)
    fake.spec_violations.clear()
    text = plain.post(fake.api + "/registries", data="{}", auth=ADMIN,
                      headers={"Content-Type": "text/plain"})
    assert text.status_code == 422 and fake.spec_violations
    fake.spec_violations.clear()
    empty = plain.post(fake.api + "/projects", auth=ADMIN)
    assert error(empty)[2] == "validation failure list:\nproject in body is required"
    fake.spec_violations.clear()


# -- __main__ ---------------------------------------------------------------------------------
def test_main_serves_on_loopback(plain: requests.Session) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.harbor", "--fresh",
                             "--login-lock", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:")
        resp = plain.get(url + "/api/v2.0/users/current", auth=ADMIN)
        assert resp.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)

"""The Nexus HTTP client against canned responses: paths, bodies, error lines, tolerance."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import responses
from responses import matchers

from provisioner.backends.nexus.client import NexusClient
from provisioner.errors import BadResponse, HttpStatusError, ServerError, Unauthorized, Unreachable

BASE = "http://nexus.test:8081"
API = f"{BASE}/service/rest"


@pytest.fixture
def client() -> NexusClient:
    return NexusClient(BASE, auth=("admin", "pw"), timeout=2, name="nexus target 'hq'")


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


def test_rest_root_pasted_by_the_user_is_accepted(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/v1/repositories", json=[])
    assert NexusClient(f"{BASE}/service/rest/", auth=("a", "b")).repositories() == []


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (
            [
                {
                    "id": "PARAMETER name",
                    "message": "Name is already used, must be unique (ignoring case)",
                }
            ],
            "application/vnd.siesta-validation-errors-v1+json",
            "name: Name is already used, must be unique (ignoring case)",
        ),
        (
            [
                {"id": "*", "message": "may not be empty"},
                {"id": "PARAMETER type", "message": "bad"},
            ],
            "application/json",
            "may not be empty; type: bad",
        ),
        ("Blob store not found", "application/json", "Blob store not found"),
    ],
)
def test_both_400_shapes_give_the_server_text(
    client: NexusClient,
    mocked: responses.RequestsMock,
    body: object,
    content_type: str,
    expected: str,
) -> None:
    mocked.post(
        f"{API}/v1/repositories/docker/proxy",
        body=json.dumps(body),
        status=400,
        content_type=content_type,
    )
    with pytest.raises(HttpStatusError) as info:
        client.create_docker("proxy", {"name": "x"})
    text = str(info.value)
    assert text == f"POST {API}/v1/repositories/docker/proxy -> 400: {expected}"
    assert info.value.status == 400


def test_html_error_page_is_described_not_dumped(
    client: NexusClient, mocked: responses.RequestsMock
) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body></html>"
    mocked.get(f"{API}/v1/repositorySettings", body=page, status=502, content_type="text/html")
    with pytest.raises(ServerError) as info:
        client.repository_settings()
    assert "an HTML page (502 bad gateway) instead of an API answer" in str(info.value)
    assert "xxxx" not in str(info.value)


def test_html_with_200_is_a_bad_response(
    client: NexusClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(
        f"{API}/v1/repositorySettings",
        body="<!doctype html><html>login</html>",
        status=200,
        content_type="text/html",
    )
    with pytest.raises(BadResponse, match="expected JSON, got an HTML page"):
        client.repository_settings()


def test_wrong_shape_is_a_bad_response(client: NexusClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/v1/security/realms/active", json={"realms": []})
    with pytest.raises(BadResponse, match="expected a JSON list for the active realms"):
        client.active_realms()


def test_401_names_the_target_and_never_the_password(
    client: NexusClient, mocked: responses.RequestsMock
) -> None:
    mocked.get(f"{API}/v1/repositorySettings", status=401)
    with pytest.raises(Unauthorized) as info:
        client.repository_settings()
    assert "check the username and password of nexus target 'hq'" in str(info.value)
    assert "pw" not in str(info.value).replace("password", "")


def test_unknown_fields_are_kept_and_ignored(
    client: NexusClient, mocked: responses.RequestsMock
) -> None:
    item = {
        "name": "a",
        "format": "docker",
        "type": "group",
        "firewall": {"mode": "X"},
        "group": {"memberNames": ["b"]},
        "docker": {},
        "futureField": [1, 2],
    }
    mocked.get(f"{API}/v1/repositorySettings", json=[item, "stray"])
    assert client.repository_settings() == [item]


@pytest.mark.parametrize("status", [404, 405])
def test_missing_repository_settings_endpoint_means_fallback(
    client: NexusClient, mocked: responses.RequestsMock, status: int
) -> None:
    mocked.get(f"{API}/v1/repositorySettings", status=status)
    assert client.repository_settings() is None


def test_format_path_404_is_none(client: NexusClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/v1/repositories/docker/proxy/x", json="Repository not found", status=404)
    assert client.docker_repository("proxy", "x") is None


def test_delete_of_a_missing_repository_is_fine(
    client: NexusClient, mocked: responses.RequestsMock
) -> None:
    mocked.delete(f"{API}/v1/repositories/gone", status=404)
    client.delete_repository("gone")


def test_change_password_is_text_plain_with_the_initial_login(
    client: NexusClient, mocked: responses.RequestsMock
) -> None:
    mocked.put(
        f"{API}/v1/security/users/admin/change-password",
        status=204,
        match=[matchers.header_matcher({"Content-Type": "text/plain; charset=utf-8"})],
    )
    client.change_password("admin", "n\u00e9w-pass", auth=("admin", "initial"))
    sent = mocked.calls[0].request
    assert sent.body == "n\u00e9w-pass".encode()
    assert sent.headers["Authorization"] == "Basic YWRtaW46aW5pdGlhbA=="  # admin:initial


def test_eula_echoes_the_disclaimer_byte_for_byte(
    client: NexusClient, mocked: responses.RequestsMock
) -> None:
    disclaimer = "By returning \u2018accepted:false\u2019 to \u2018accepted:true\u2019 you agree."
    mocked.post(f"{API}/v1/system/eula", status=204)
    client.accept_eula(disclaimer)
    body = mocked.calls[0].request.body
    assert isinstance(body, bytes)
    assert json.loads(body.decode("utf-8")) == {"accepted": True, "disclaimer": disclaimer}
    assert "\u2018".encode() in body  # raw UTF-8, not \\u escapes


def test_eula_404_means_not_needed(client: NexusClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/v1/system/eula", status=404, body="Not Found")
    assert client.eula() is None


def test_credentials_work(client: NexusClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/v1/security/realms/active", status=401)
    mocked.get(f"{API}/v1/security/realms/active", json=["NexusAuthenticatingRealm"])
    assert client.credentials_work(("admin", "wrong")) is False
    assert client.credentials_work(("admin", "right")) is True


def test_wait_writable_waits_through_refusals(
    client: NexusClient, mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("provisioner.backends.nexus.client.time.sleep", lambda s: None)
    url = f"{API}/v1/status/writable"
    mocked.get(url, body=requests.exceptions.ConnectionError("Connection refused"))
    mocked.get(url, status=503)
    mocked.get(url, status=200)
    client.wait_writable(60, interval=0)
    assert len(mocked.calls) == 3
    assert "Authorization" not in mocked.calls[2].request.headers


def test_wait_writable_gives_up(client: NexusClient, mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/v1/status/writable", status=503)
    with pytest.raises(Unreachable, match="not writable after 0s"):
        client.wait_writable(0, interval=1)

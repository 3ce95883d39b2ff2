"""HarborClient against `responses`: paging, Location ids, headers, cookies, errors."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from provisioner.backends.harbor.client import (
    HarborClient,
    location_id,
    next_link,
    parse_version,
)
from provisioner.errors import BadResponse, Conflict, ServerError

ROOT = "https://harbor.test"
API = f"{ROOT}/api/v2.0"


@pytest.fixture
def client() -> HarborClient:
    return HarborClient(ROOT, "admin", "S3cretPass", timeout=2)


def _page(items: list[dict[str, object]], page: int, last: int, path: str) -> dict[str, object]:
    links = []
    if page > 1:
        links.append(f'<{path}?page={page - 1}&page_size=100>; rel="prev"')
    if page < last:
        links.append(f'<{path}?page={page + 1}&page_size=100>; rel="next"')
    headers = {"X-Total-Count": "250"}
    if links:
        headers["Link"] = " , ".join(links)
    return {"json": items, "headers": headers}


@responses.activate
def test_list_all_follows_link_next_with_page_size_100(client: HarborClient) -> None:
    pages = {1: list(range(100)), 2: list(range(100, 200)), 3: list(range(200, 250))}

    def callback(request):  # type: ignore[no-untyped-def]
        query = parse_qs(urlsplit(request.url).query)
        assert query["page_size"] == ["100"]
        page = int(query["page"][0])
        items = [{"id": i, "name": f"p{i}"} for i in pages[page]]
        spec = _page(items, page, 3, "/api/v2.0/projects")
        return 200, spec["headers"], json.dumps(spec["json"])

    responses.add_callback(responses.GET, f"{API}/projects", callback=callback)
    items = client.list_projects()
    assert [i["id"] for i in items] == list(range(250))
    assert len(responses.calls) == 3


@responses.activate
def test_list_all_keeps_query_filters_from_the_link(client: HarborClient) -> None:
    responses.add(responses.GET, f"{API}/registries", json=[{"id": 1, "name": "a"}],
                  headers={"Link": '</api/v2.0/registries?page=2&page_size=100&q=name%3Da>; '
                                   'rel="next"'})
    responses.add(responses.GET, f"{API}/registries", json=[])
    assert client.find_registry("a") == {"id": 1, "name": "a"}
    second = parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert second == {"page": ["2"], "page_size": ["100"], "q": ["name=a"]}


def test_next_link_parses_harbor_joined_links() -> None:
    header = ('</api/v2.0/projects?page=1&page_size=10>; rel="prev" , '
              '</api/v2.0/projects?page=3&page_size=10>; rel="next"')
    assert next_link(header) == "/api/v2.0/projects?page=3&page_size=10"
    assert next_link('</x?page=1>; rel="prev"') is None
    assert next_link(None) is None


@responses.activate
def test_every_request_carries_a_request_id_and_no_cookie(client: HarborClient) -> None:
    responses.add(responses.GET, f"{API}/users/current", json={"user_id": 1},
                  headers={"Set-Cookie": "sid=abc123; Path=/; HttpOnly"})
    responses.add(responses.PUT, f"{API}/registries/3", json={})
    client.current_user()
    client.update_registry(3, {"url": "https://x"})
    for call in responses.calls:
        assert call.request.headers.get("X-Request-Id")
        assert "Cookie" not in call.request.headers  # a returned sid would turn on CSRF (403)
    ids = {c.request.headers["X-Request-Id"] for c in responses.calls}
    assert len(ids) == 2


@responses.activate
def test_projects_by_name_send_x_is_resource_name(client: HarborClient) -> None:
    responses.add(responses.PUT, f"{API}/projects/123", json={})
    responses.add(responses.DELETE, f"{API}/projects/123", json={})
    client.update_project("123", {"metadata": {"public": "true"}})
    client.delete_project("123")
    assert all(c.request.headers["X-Is-Resource-Name"] == "true" for c in responses.calls)


@responses.activate
def test_create_returns_the_id_from_location(client: HarborClient) -> None:
    responses.add(responses.POST, f"{API}/registries", status=201,
                  headers={"Location": "/api/v2.0/registries/42"})
    responses.add(responses.POST, f"{API}/projects", status=201,
                  headers={"Location": "/api/v2.0/projects/7"})
    assert client.create_registry({"name": "x"}) == 42
    assert client.create_project({"project_name": "x"}) == 7


@responses.activate
def test_create_without_location_is_a_bad_response(client: HarborClient) -> None:
    responses.add(responses.POST, f"{API}/registries", status=201)
    with pytest.raises(BadResponse, match="Location"):
        client.create_registry({"name": "x"})


@responses.activate
def test_errors_carry_harbors_message(client: HarborClient) -> None:
    responses.add(responses.POST, f"{API}/registries", status=409,
                  json={"errors": [{"code": "CONFLICT", "message": "registry x already exists"}]})
    with pytest.raises(Conflict) as caught:
        client.create_registry({"name": "x", "credential": {"access_secret": "hunter2-secret"}})
    text = str(caught.value)
    assert "registry x already exists (CONFLICT)" in text
    assert "POST https://harbor.test/api/v2.0/registries -> 409" in text
    assert "hunter2" not in text  # request bodies never appear in errors


@responses.activate
def test_server_error_has_a_hint(client: HarborClient) -> None:
    responses.add(responses.POST, f"{API}/projects", status=500,
                  json={"errors": [{"code": "UNKNOWN", "message": "internal server error"}]})
    with pytest.raises(ServerError, match="harbor-core"):
        client.create_project({"project_name": "x"})


@responses.activate
def test_current_user_is_none_when_anonymous(client: HarborClient) -> None:
    responses.add(responses.GET, f"{API}/users/current", status=401,
                  json={"errors": [{"code": "UNAUTHORIZED", "message": "UnAuthorized"}]})
    assert client.current_user() is None


@responses.activate
def test_ping_registry_returns_harbors_reason(client: HarborClient) -> None:
    responses.add(responses.POST, f"{API}/registries/ping", status=400,
                  json={"errors": [{"code": "BAD_REQUEST",
                                    "message": "the registry is unhealthy"}]})
    responses.add(responses.POST, f"{API}/registries/ping", status=200)
    assert client.ping_registry({"type": "docker-registry", "url": "https://x"}) == \
        "the registry is unhealthy (BAD_REQUEST)"
    assert client.ping_registry({"type": "docker-registry", "url": "https://y"}) is None


@responses.activate
def test_delete_project_empties_it_first_on_412(client: HarborClient) -> None:
    responses.add(responses.DELETE, f"{API}/projects/dockerhub", status=412,
                  json={"errors": [{"code": "PRECONDITION",
                                    "message": "the project contains repositories"}]})
    responses.add(responses.GET, f"{API}/projects/dockerhub/repositories",
                  json=[{"name": "dockerhub/library/nginx"}])
    responses.add(responses.DELETE, f"{API}/projects/dockerhub/repositories/library%252Fnginx")
    responses.add(responses.DELETE, f"{API}/projects/dockerhub")
    assert client.delete_project("dockerhub") is True
    assert [c.request.method for c in responses.calls] == ["DELETE", "GET", "DELETE", "DELETE"]


@responses.activate
def test_delete_missing_project_is_fine(client: HarborClient) -> None:
    responses.add(responses.DELETE, f"{API}/projects/gone", status=404,
                  json={"errors": [{"code": "NOT_FOUND", "message": "project gone not found"}]})
    assert client.delete_project("gone") is False


def test_session_retries_only_idempotent_methods(client: HarborClient) -> None:
    retry = client.session.get_adapter(API).max_retries
    assert "GET" in retry.allowed_methods and "PUT" in retry.allowed_methods
    assert "POST" not in retry.allowed_methods


@pytest.mark.parametrize(("text", "expected"), [
    ("v2.15.2-080b0220", (2, 15, 2)),
    ("v2.9.0", (2, 9, 0)),
    ("2.12", (2, 12, 0)),
    ("", None),
    ("dev", None),
])
def test_parse_version(text: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == expected


def test_location_id_rejects_garbage() -> None:
    import requests

    response = requests.Response()
    response.status_code = 201
    response.headers["Location"] = "/api/v2.0/projects/abc"
    response.request = requests.Request("POST", "https://x/api/v2.0/projects").prepare()
    with pytest.raises(BadResponse):
        location_id(response)

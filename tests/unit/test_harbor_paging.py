"""Harbor lists: pages after the first fetched together when the total is known, in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from provisioner.backends.harbor.client import HarborClient

BASE = "https://harbor.test"
PATH = "/api/v2.0/projects"


class Server:
    """Serves ``items`` 100 per page; ``total`` is what X-Total-Count claims (None: absent)."""

    def __init__(self, items: int, total: int | None) -> None:
        self.items = [{"id": i, "name": f"p{i}"} for i in range(items)]
        self.total = total
        self.pages: list[int] = []

    def __call__(self, request: object) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)  # type: ignore[attr-defined]
        number = int(query["page"][0])
        self.pages.append(number)
        chunk = self.items[(number - 1) * 100: number * 100]
        headers = {}
        if number * 100 < len(self.items):
            headers["Link"] = f'<{PATH}?page={number + 1}&page_size=100>; rel="next"'
        if self.total is not None:
            headers["X-Total-Count"] = str(self.total)
        return 200, headers, json.dumps(chunk)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


def serve(mocked: responses.RequestsMock, server: Server) -> None:
    mocked.add_callback(responses.GET, f"{BASE}{PATH}", callback=server,
                        content_type="application/json")


@pytest.mark.parametrize("parallelism", [1, 4])
def test_every_item_once_in_order(mocked: responses.RequestsMock, parallelism: int) -> None:
    server = Server(450, 450)
    serve(mocked, server)
    client = HarborClient(BASE, "admin", "pw", parallelism=parallelism)
    assert [p["id"] for p in client.list_projects()] == list(range(450))
    assert sorted(server.pages) == [1, 2, 3, 4, 5]
    if parallelism == 1:
        assert server.pages == [1, 2, 3, 4, 5]  # one after the other, by Link


def test_a_list_that_grew_since_the_count_is_followed_to_its_end(
    mocked: responses.RequestsMock,
) -> None:
    server = Server(350, 150)  # the count said 2 pages; there are 4
    serve(mocked, server)
    client = HarborClient(BASE, "admin", "pw", parallelism=8)
    assert [p["id"] for p in client.list_projects()] == list(range(350))
    assert server.pages == [1, 2, 3, 4]


def test_without_a_count_the_links_are_followed(mocked: responses.RequestsMock) -> None:
    server = Server(250, None)
    serve(mocked, server)
    client = HarborClient(BASE, "admin", "pw", parallelism=8)
    assert len(client.list_projects()) == 250
    assert server.pages == [1, 2, 3]


def test_one_page_is_one_request(mocked: responses.RequestsMock) -> None:
    server = Server(100, 100)
    serve(mocked, server)
    assert len(HarborClient(BASE, "admin", "pw").list_projects()) == 100
    assert server.pages == [1]

"""HTTP client for Harbor's REST API v2.0 (every request of the Harbor backend goes through here).

Harbor-specific rules this module encodes (section numbers refer to shared/reference/harbor.md):

- **No cookie jar** (§0.7): Harbor sets a ``sid`` cookie on API answers, and a request that sends
  it back is checked for a CSRF token, so writes would fail with 403. Basic auth only.
- **Wrong credentials do not fail** (§1): the request silently becomes anonymous. Callers check
  the credentials with :meth:`HarborClient.current_user` (401 when anonymous) before planning.
- **Paging** (§1): ``page_size`` at most 100; follow the ``Link: <...>; rel="next"`` header.
- **Ids** of created resources come only from the ``Location`` header of the 201 answer.
- **Projects by name** always carry ``X-Is-Resource-Name: true``: an all-digit project name
  would otherwise be taken for an id.
- **Errors** carry the server's own text from ``{"errors":[{"code","message"}]}``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

import requests

from provisioner.backends import DEFAULT_PARALLELISM
from provisioner.errors import ApiError, BadResponse, ServerError, Unauthorized, Unreachable
from provisioner.http import HttpClient, Tls, make_session

API_PREFIX = "/api/v2.0"
PAGE_SIZE = 100  # Harbor's maximum; larger values are a 422
MAX_PAGES = 1000  # a server that keeps sending rel="next" must not loop us forever
# Pinging, creating and updating an endpoint make Harbor contact the upstream while we wait,
# which can take far longer than an ordinary API call when the upstream is slow or black-holed.
UPSTREAM_TIMEOUT = 60.0
PING_ATTEMPTS = 3
BY_NAME = {"X-Is-Resource-Name": "true"}
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?([^",;]+)"?')
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?")

Version = tuple[int, int, int]


class HarborClient(HttpClient):
    """Calls of Harbor's API v2.0 used by the backend; one instance per target and run.

    ``auth`` may be swapped (bootstrap: reads of a fresh instance use the initial password until
    the rotation ran). ``registry_ids`` remembers the ids of endpoints created in this run, so a
    project created right after its endpoint needs no lookup.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        tls: Tls | None = None,
        timeout: float = 10.0,
        name: str = "Harbor",
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        super().__init__(
            f"{url.rstrip('/')}{API_PREFIX}",
            auth=(username, password),
            tls=tls or Tls(),
            timeout=timeout,
            session=make_session(cookies=False),
            name=name,
        )
        self.root = url.rstrip("/")
        self.username = username
        self.version: Version | None = None
        self.registry_ids: dict[str, int] = {}
        self.lock = threading.Lock()
        self.parallelism = parallelism  # requests one list may have in flight (pages)

    # -- errors ---------------------------------------------------------------------------------
    def error_message(self, response: requests.Response) -> str | None:
        """``message (CODE)`` of each entry of Harbor's ``{"errors": [...]}`` body."""
        try:
            body = response.json()
        except ValueError:
            return None
        errors = body.get("errors") if isinstance(body, dict) else None
        if not isinstance(errors, list) or not errors:
            return None
        parts = []
        for item in errors[:3]:
            if isinstance(item, dict):
                message = str(item.get("message") or "").strip()
                code = str(item.get("code") or "").strip()
                parts.append(f"{message} ({code})" if message and code else message or code)
        return "; ".join(p for p in parts if p) or None

    def hint_for(self, status: int) -> str | None:
        if status == 401:
            return f"check the username and password of {self.name}"
        if status == 403:
            return "the user needs Harbor's system admin role to manage proxy-cache projects"
        if status == 500:
            return "Harbor hides the cause of a 500; its core log (docker logs harbor-core) has it"
        return None

    # -- liveness, identity, version ------------------------------------------------------------
    def ping(self) -> bool:
        """True when ``GET /ping`` answers 200 (no auth). Connection failures count as False."""
        try:
            response = self.request("GET", "/ping", auth=False, allow=tuple(range(300, 600)))
        except ApiError:
            return False
        return response.status_code == 200

    def health(self) -> dict[str, Any]:
        """``GET /health``: always 200; ``status`` says healthy or not (§2)."""
        body = self.json(self.request("GET", "/health", auth=False))
        return body if isinstance(body, dict) else {}

    def current_user(self, auth: tuple[str, str] | None = None) -> dict[str, Any] | None:
        """The calling user, or None when Harbor treats the credentials as anonymous (401)."""
        response = self.request("GET", "/users/current", auth=auth or True, allow=(401,))
        if response.status_code == 401:
            return None
        body = self.json(response)
        if not isinstance(body, dict):
            raise BadResponse("expected a user object", method="GET", url=response.url)
        return body

    def system_info(self) -> dict[str, Any]:
        body = self.json(self.request("GET", "/systeminfo"))
        return body if isinstance(body, dict) else {}

    def change_password(self, user_id: int, old: str, new: str, auth: tuple[str, str]) -> None:
        """``PUT /users/{id}/password``; ``old_password`` is required for one's own password."""
        self.request(
            "PUT",
            f"/users/{user_id}/password",
            auth=auth,
            json={"old_password": old, "new_password": new},
        )

    # -- lists ----------------------------------------------------------------------------------
    def list_all(self, path: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list, following ``Link`` rel="next" with the largest page size.

        When the first page's ``X-Total-Count`` says how many pages there are, the others are
        fetched together (``parallelism`` at a time): one round trip more, not one per page.
        The ``Link`` of the last of them is still followed, should the list have grown.
        """
        query: dict[str, str] = {**(params or {}), "page": "1", "page_size": str(PAGE_SIZE)}
        page, response = self._page(path, query)
        items, pages = list(page), 1
        total = response.headers.get("X-Total-Count", "")
        if (
            page
            and next_link(response.headers.get("Link"))
            and total.isdigit()
            and self.parallelism > 1
        ):
            last = min(-(-int(total) // PAGE_SIZE), MAX_PAGES)
            rest = [{**query, "page": str(n)} for n in range(2, last + 1)]
            with ThreadPoolExecutor(max_workers=max(1, min(self.parallelism, len(rest)))) as pool:
                answers = list(pool.map(lambda q: self._page(path, q), rest))
            items.extend(item for more, _ in answers for item in more)
            pages += len(answers)
            if answers:
                page, response = answers[-1]  # its Link says whether the list grew
        while True:
            following = next_link(response.headers.get("Link"))
            if following is None or not page:
                return items
            if pages >= MAX_PAGES:
                raise BadResponse(f"more than {MAX_PAGES} pages", method="GET", url=self.url(path))
            # The link is relative to the host (or absolute); only its query matters: the path
            # is the one we list, which also keeps the credentials on this server.
            query = dict(parse_qsl(urlsplit(following).query, keep_blank_values=True))
            page, response = self._page(path, query)
            items.extend(page)
            pages += 1

    def _page(
        self, path: str, query: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], requests.Response]:
        """One page of a list: its object items and the response (for its headers)."""
        response = self.request("GET", path, params=query)
        page = _expect(self.json(response), list, "a list", response)
        items = [item for item in page if isinstance(item, dict)]
        if not all(isinstance(item.get("name"), str) for item in items):
            # Skipping a nameless item would plan creating what exists (then a 409).
            raise BadResponse(
                "expected every listed item to have a text 'name'",
                method="GET",
                url=response.url,
                status=response.status_code,
            )
        return items, response

    def list_registries(self) -> list[dict[str, Any]]:
        return self.list_all("/registries")

    def list_projects(self) -> list[dict[str, Any]]:
        return self.list_all("/projects")

    def find_registry(self, name: str) -> dict[str, Any] | None:
        """The endpoint called exactly ``name`` (``q=name=`` is exact; ``name=`` is fuzzy)."""
        for item in self.list_all("/registries", {"q": f"name={name}"}):
            if item.get("name") == name:
                return item
        return None

    # -- registry endpoints ---------------------------------------------------------------------
    @property
    def _upstream_timeout(self) -> float:
        return max(self.timeout, UPSTREAM_TIMEOUT)

    def ping_registry(self, body: Mapping[str, Any]) -> str | None:
        """Ask Harbor to reach an upstream (read-only). None when healthy, else Harbor's reason.

        The ping changes nothing (a POST only by API design), so unlike a write it is retried
        after a dropped connection or a 502/503/504; a 500 is Harbor's answer and is raised.
        """
        for attempt in range(1, PING_ATTEMPTS + 1):
            try:
                response = self.request(
                    "POST",
                    "/registries/ping",
                    json=dict(body),
                    allow=(400,),
                    timeout=self._upstream_timeout,
                )
                break
            except (Unreachable, ServerError) as exc:
                if attempt == PING_ATTEMPTS or exc.status == 500:
                    raise
                time.sleep(0.3 * attempt)
        if response.status_code == 400:
            return self.error_message(response) or "the registry is unhealthy"
        return None

    def create_registry(self, body: Mapping[str, Any]) -> int:
        response = self.request(
            "POST", "/registries", json=dict(body), ok=(201,), timeout=self._upstream_timeout
        )
        return location_id(response)

    def update_registry(self, registry_id: int, body: Mapping[str, Any]) -> None:
        self.request(
            "PUT", f"/registries/{registry_id}", json=dict(body), timeout=self._upstream_timeout
        )

    def delete_registry(self, registry_id: int) -> None:
        self.request("DELETE", f"/registries/{registry_id}", allow=(404,))

    # -- projects -------------------------------------------------------------------------------
    def create_project(self, body: Mapping[str, Any]) -> int:
        response = self.request("POST", "/projects", json=dict(body), ok=(201,))
        return location_id(response)

    def get_project(self, name: str) -> dict[str, Any] | None:
        """The project called ``name``, or None when there is none."""
        response = self.request("GET", f"/projects/{_seg(name)}", headers=BY_NAME, allow=(404,))
        if response.status_code == 404:
            return None
        return _expect(self.json(response), dict, "a project object", response)

    def update_project(self, name: str, body: Mapping[str, Any]) -> None:
        self.request("PUT", f"/projects/{_seg(name)}", json=dict(body), headers=BY_NAME)

    def delete_project(self, name: str) -> bool:
        """Delete a project, emptying it first when Harbor says it holds repositories (412).

        Returns False when it did not exist. Used only for replacements and ``--prune``, which
        the user asked for knowing that the cached images go.
        """
        path = f"/projects/{_seg(name)}"
        response = self.request("DELETE", path, headers=BY_NAME, allow=(404, 412))
        if response.status_code == 404:
            return False
        if response.status_code == 412:
            for repo in self.list_all(f"{path}/repositories", {}):
                full = str(repo.get("name", ""))
                short = full.removeprefix(f"{name}/")
                # Repository names hold '/', which Harbor expects double-encoded in the path.
                encoded = quote(quote(short, safe=""), safe="")
                self.request("DELETE", f"{path}/repositories/{encoded}", allow=(404,))
            self.request("DELETE", path, headers=BY_NAME, allow=(404,))
        return True


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (Harbor joins links with ``" , "``)."""
    if not header:
        return None
    for match in _LINK.finditer(header):
        if match.group(2).strip().lower() == "next":
            return match.group(1)
    return None


T = TypeVar("T")


def _expect(value: Any, kind: type[T], what: str, response: requests.Response) -> T:
    """``value`` when it is a ``kind``, else BadResponse naming ``what`` was expected."""
    if not isinstance(value, kind):
        raise BadResponse(
            f"expected {what}, got {type(value).__name__}",
            method="GET",
            url=response.url,
            status=response.status_code,
        )
    return value


def location_id(response: requests.Response) -> int:
    """The numeric id at the end of a 201's ``Location`` header (Harbor's bodies are empty)."""
    location = response.headers.get("Location", "")
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise BadResponse(
            f"201 without a usable Location header ({location or 'none'})",
            method=response.request.method or "POST",
            url=response.url,
            status=response.status_code,
        )
    return int(tail)


def parse_version(text: str | None) -> Version | None:
    """``v2.15.2-0a1b2c`` -> (2, 15, 2); None when absent or unreadable."""
    match = _VERSION.match((text or "").strip())
    if not match:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def credentials_error(client: HarborClient, target: str, extra: str = "") -> Unauthorized:
    """The one-line error for credentials Harbor does not accept."""
    return Unauthorized(
        f"harbor target {target!r}: Harbor at {client.root} does not accept the password of user "
        f"{client.username!r}{extra} (GET {API_PREFIX}/users/current -> 401; Harbor turns wrong "
        "credentials into anonymous access instead of failing, so they are checked first)",
        hint="fix username/password in the profile; for a fresh install add "
        "bootstrap: {initial_password: ...}",
    )


def _seg(name: str) -> str:
    return quote(name, safe="")

"""The Nexus 3 REST client: the only module of the Nexus backend that sends requests.

Everything lives under ``<url>/service/rest``. Responses are plain dicts and lists: fields a
newer Nexus adds (``firewall``, ``preserveEncodedCharacters`` on 3.94) are simply ignored, so a
server upgrade never breaks reading. Errors are the typed errors of :mod:`provisioner.http`,
with Nexus's own error text extracted from both 400 shapes it uses (nexus.md §4): a list of
``{"id", "message"}`` validation items, or a bare JSON string literal.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from provisioner.errors import ApiError, BadResponse, NotFound, Unreachable
from provisioner.http import HttpClient, Tls

API = "/service/rest"
JSON = {"Accept": "application/json"}


class NexusClient(HttpClient):
    """Typed calls of the Nexus REST API used by the provisioner.

    ``auth`` may be swapped at run time: while a fresh instance is bootstrapped, reads use the
    initial admin password and the password change switches the client to the target's one.
    """

    def __init__(self, base_url: str, *, auth: tuple[str, str], tls: Tls | None = None,
                 timeout: float = 10.0, name: str = "nexus",
                 session: requests.Session | None = None) -> None:
        root = base_url.rstrip("/")
        if root.endswith(API):  # a user who pasted the REST root gets what they meant
            root = root[: -len(API)]
        super().__init__(root, auth=auth, tls=tls or Tls(), timeout=timeout, name=name,
                         headers=JSON, session=session)

    def url(self, path: str) -> str:
        return f"{self.base_url}{API}{path}"

    def error_message(self, response: requests.Response) -> str | None:
        text = nexus_error_text(response)
        if text is None and response.status_code == 401 and self.auth:
            # Nexus answers a bad login with an empty 401: say what it means.
            return f"the login of user {self.auth[0]!r} was refused"
        return text

    def hint_for(self, status: int) -> str | None:
        if status == 401:
            return f"check the username and password of {self.name}"
        if status == 403:
            return (f"the user of {self.name} lacks a privilege, or the Community Edition EULA "
                    "is not accepted yet (bootstrap: accept_eula: true)")
        if status == 415:
            return "the server refused the Content-Type; is this a Nexus 3 REST API?"
        return None

    def get_json(self, path: str, *, auth: tuple[str, str] | None | bool = True) -> Any:
        response = self.request("GET", path, auth=auth)
        return self.json(response)

    def get_list(self, path: str, what: str) -> list[Any]:
        """GET a JSON list; anything else is a BadResponse naming ``what``."""
        return _expect(self.get_json(path), list, what, self.url(path))  # type: ignore[no-any-return]

    def get_object(self, path: str, what: str) -> dict[str, Any]:
        """GET a JSON object; anything else is a BadResponse naming ``what``."""
        return _expect(self.get_json(path), dict, what, self.url(path))  # type: ignore[no-any-return]

    # -- status and bootstrap -----------------------------------------------------------------
    def writable(self) -> bool:
        """True when ``/v1/status/writable`` answers 200 (503 while starting or read-only)."""
        response = self.request("GET", "/v1/status/writable", auth=False, allow=(503,))
        return response.status_code == 200

    def wait_writable(self, seconds: float, interval: float = 2.0) -> None:
        """Poll ``/v1/status/writable`` until it answers 200, for at most ``seconds``.

        Connection failures count as "not yet": a container that was just started refuses
        connections before it answers 503. The last failure is raised when time runs out.
        """
        deadline = time.monotonic() + seconds
        while True:
            last: str
            try:
                if self.writable():
                    return
                last = "503 (starting, or read-only)"
            except ApiError as exc:
                if not isinstance(exc, Unreachable) and exc.status not in (502, 503, 504):
                    raise
                last = str(exc)
            if time.monotonic() + interval > deadline:
                raise Unreachable(
                    f"not writable after {seconds:g}s: {last}", method="GET",
                    url=self.url("/v1/status/writable"),
                    hint=f"is {self.name} running? raise bootstrap.wait to wait longer")
            time.sleep(interval)

    def credentials_work(self, auth: tuple[str, str]) -> bool:
        """True when ``auth`` is accepted (200), False on 401; other failures raise.

        Reads the active realms, which needs an authenticated administrator, as bootstrap does.
        """
        response = self.request("GET", "/v1/security/realms/active", auth=auth, allow=(401,))
        return response.status_code != 401

    def change_password(self, user: str, new_password: str, auth: tuple[str, str]) -> None:
        """PUT change-password with a text/plain body (a JSON body gets 415, nexus.md §2)."""
        self.request("PUT", f"/v1/security/users/{user}/change-password", auth=auth,
                     data=new_password.encode("utf-8"),
                     headers={"Content-Type": "text/plain; charset=utf-8"}, ok=(200, 204))

    def eula(self) -> dict[str, Any] | None:
        """The CE EULA status ``{"accepted", "disclaimer"}``, or None when the server has no
        EULA endpoint (before 3.77, or not the Community Edition)."""
        response = self.request("GET", "/v1/system/eula", allow=(404,))
        if response.status_code == 404:
            return None
        status: dict[str, Any] = _expect(self.json(response), dict, "EULA status", response.url)
        return status

    def accept_eula(self, disclaimer: str) -> None:
        """POST the EULA acceptance, echoing the server's disclaimer byte for byte (UTF-8)."""
        body = json.dumps({"accepted": True, "disclaimer": disclaimer}, ensure_ascii=False)
        self.request("POST", "/v1/system/eula", data=body.encode("utf-8"),
                     headers={"Content-Type": "application/json; charset=utf-8"})

    # -- security settings --------------------------------------------------------------------
    def active_realms(self) -> list[str]:
        realms = self.get_list("/v1/security/realms/active", "active realms")
        if not all(isinstance(realm, str) for realm in realms):
            # They are written back with DockerToken added: never turn garbage into realm ids.
            raise BadResponse("expected the active realms as a list of ids (strings)",
                              method="GET", url=self.url("/v1/security/realms/active"))
        return realms

    def set_active_realms(self, realms: list[str]) -> None:
        self.request("PUT", "/v1/security/realms/active", json=list(realms))

    def anonymous(self) -> dict[str, Any]:
        return self.get_object("/v1/security/anonymous", "anonymous access settings")

    def set_anonymous(self, settings: dict[str, Any]) -> None:
        self.request("PUT", "/v1/security/anonymous", json=settings)

    # -- repositories ---------------------------------------------------------------------------
    def repository_settings(self) -> list[dict[str, Any]] | None:
        """Every repository with its full per-format settings, in one request; None when the
        server lacks ``/v1/repositorySettings`` (404/405), so the caller falls back."""
        response = self.request("GET", "/v1/repositorySettings", allow=(404, 405))
        if response.status_code in (404, 405):
            return None
        return _objects(_expect(self.json(response), list, "repository settings", response.url),
                        response.url)

    def repositories(self) -> list[dict[str, Any]]:
        """``[{"name","format","type","url","attributes"}]`` of every browsable repository."""
        return _objects(self.get_list("/v1/repositories", "repository list"),
                        self.url("/v1/repositories"))

    def docker_repository(self, rtype: str, name: str) -> dict[str, Any] | None:
        """The full settings of Docker repository ``name`` of type ``rtype``, None when absent.

        This path filters on format and type: a maven repository of that name is also None.
        """
        try:
            return self.get_object(f"/v1/repositories/docker/{rtype}/{name}", "repository settings")
        except NotFound:
            return None

    def create_docker(self, rtype: str, body: dict[str, Any]) -> None:
        self.request("POST", f"/v1/repositories/docker/{rtype}", json=body, ok=(200, 201, 204))

    def update_docker(self, rtype: str, name: str, body: dict[str, Any]) -> None:
        self.request("PUT", f"/v1/repositories/docker/{rtype}/{name}", json=body)

    def delete_repository(self, name: str) -> None:
        """DELETE a repository; one already gone counts as deleted."""
        self.request("DELETE", f"/v1/repositories/{name}", allow=(404,))

    # -- blob stores ----------------------------------------------------------------------------
    def blobstores(self) -> list[dict[str, Any]]:
        return _objects(self.get_list("/v1/blobstores", "blob store list"),
                        self.url("/v1/blobstores"))

    def create_file_blobstore(self, name: str, path: str) -> None:
        self.request("POST", "/v1/blobstores/file", json={"name": name, "path": path})


def nexus_error_text(response: requests.Response) -> str | None:
    """Nexus's own error text: ``id: message; ...`` from a validation list, or the bare string.

    Returns None for anything else (HTML pages, empty bodies), so the caller describes the body.
    """
    try:
        payload = response.json()
    except ValueError:
        return None
    if isinstance(payload, str) and payload.strip():
        return _short(payload)
    if isinstance(payload, list):
        items = []
        for item in payload:
            if isinstance(item, dict) and item.get("message"):
                ident = str(item.get("id") or "").removeprefix("PARAMETER ").strip()
                shown = "" if ident in ("", "*") else f"{ident}: "
                items.append(f"{shown}{item['message']}")
        if items:
            return _short("; ".join(items))
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return _short(payload["message"])
    return None


def _short(text: str, limit: int = 200) -> str:
    one_line = " ".join(text.split())
    return one_line[:limit] + ("..." if len(one_line) > limit else "")


def _expect(value: Any, kind: type, what: str, url: str) -> Any:
    if not isinstance(value, kind):
        shape = "list" if kind is list else "object"
        raise BadResponse(f"expected a JSON {shape} for the {what}, got {type(value).__name__}",
                          method="GET", url=url)
    return value


def _objects(items: list[Any], url: str = "") -> list[dict[str, Any]]:
    """The object items of a list (a stray non-object item is skipped, not fatal).

    An object without a text ``name`` is fatal: skipping it would plan the creation of a
    repository (or blob store) that exists.
    """
    objects = [item for item in items if isinstance(item, dict)]
    for item in objects:
        if not isinstance(item.get("name"), str):
            raise BadResponse(f"an item of the answer has no name: {_short(str(item), 80)}",
                              method="GET", url=url)
    return objects

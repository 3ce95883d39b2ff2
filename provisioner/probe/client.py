"""The probe's HTTP client: registry API requests that return any status, with typed failures.

Built on :class:`provisioner.http.HttpClient` (TLS choice per request, typed errors, no secrets in
messages) with two differences a health check needs:

- no retries: a probe measures the upstream as it is now, and a retry would hide a flapping
  upstream and multiply the time a dead one costs;
- every HTTP status comes back to the caller, which decides what it means (a 401 with a Bearer
  challenge on ``/v2/`` is a healthy registry), and absolute URLs are allowed (the token realm is
  usually on another host, ``auth.docker.io`` for Docker Hub).

:func:`classify` turns a transport failure into an :data:`ErrorKind` and a short phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import requests

from provisioner.errors import ApiError, BadResponse, Unreachable
from provisioner.http import HttpClient, Tls, describe_body, make_session
from provisioner.probe.result import ErrorKind

ANY_STATUS = tuple(range(100, 600))
MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: lower-case ``scheme``, ``params`` by lower-case key."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")


def parse_challenge(header: str | None) -> Challenge | None:
    """``Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`` -> Challenge."""
    if not header or not header.strip():
        return None
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
              for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


class ProbeClient(HttpClient):
    """Requests to one upstream (and its token realm) for one probe; see the module docstring."""

    def __init__(self, name: str, base_url: str, tls: Tls) -> None:
        super().__init__(base_url, tls=tls, name=f"upstream {name}",
                         session=make_session(retries=0, pool=2, cookies=False))

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return super().url(path)

    def send(self, method: str, path: str, *, timeout: float,
             headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
             auth: tuple[str, str] | None = None) -> requests.Response:
        """One request; every status returns, transport failures raise :class:`ApiError`."""
        return self.request(method, path, params=params, headers=headers, ok=ANY_STATUS,
                            auth=auth, timeout=max(timeout, 0.01))

    def close(self) -> None:
        self.session.close()


def classify(exc: ApiError) -> tuple[ErrorKind, str]:
    """The kind of a transport failure and its short reason, without method and URL."""
    text = exc.message.removeprefix(f"{exc.method} {exc.url}".strip()).removeprefix(": ").strip()
    if isinstance(exc, Unreachable):
        lowered = text.lower()
        if "dns" in lowered:
            return "dns", text
        if "tls" in lowered or "certificate" in lowered or "ssl" in lowered:
            return "tls", text
        if "no answer within" in lowered or "timed out" in lowered:
            return "timeout", text
        return "connect", text
    if isinstance(exc, BadResponse):
        return "response", text
    return "http", text


def registry_error(response: requests.Response) -> str:
    """The registry's own error (``MANIFEST_UNKNOWN: manifest unknown``) or a body description."""
    if response.request is not None and response.request.method == "HEAD":
        return ""
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        errors = payload.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code, message = errors[0].get("code"), errors[0].get("message")
            return ": ".join(str(p) for p in (code, message) if p)
        for key in ("details", "detail", "message", "error"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    body = describe_body(response)
    return "" if body == "empty body" else body

"""A fake registry upstream for probe tests: ``/v2/``, a token service and manifest HEADs.

:class:`FakeUpstream` answers like a Docker-Hub-shaped registry on loopback:

- ``auth="bearer"`` (default): ``GET /v2/`` without a token gets ``401`` and
  ``WWW-Authenticate: Bearer realm="<url>/token",service="fake-registry"``; ``GET /token`` issues a
  token for ``scope=repository:<name>:pull`` (anonymously, or only with the right Basic
  credentials when ``username`` is set); manifests need that token.
- ``auth="basic"``: every request needs HTTP Basic ``username``/``password``.
- ``auth="none"``: everything is open.

``images`` maps ``"<repository>:<reference>"`` to the digest announced in
``Docker-Content-Digest``; anything else is ``404 MANIFEST_UNKNOWN``. ``status`` answers every
request with that HTTP status instead (an upstream that is up but broken). ``latency`` (from
:class:`FakeServer`) delays every request, so a server with ``latency`` above the client's timeout
accepts connections and then hangs.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Literal

from tests.fakes.base import FakeServer, Request, Response

BUSYBOX_DIGEST = "sha256:" + "b" * 64
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")


class FakeUpstream(FakeServer):
    def __init__(
        self,
        *,
        auth: Literal["bearer", "basic", "none"] = "bearer",
        username: str | None = None,
        password: str | None = None,
        images: dict[str, str] | None = None,
        status: int | None = None,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency, hang_seconds=60.0)
        self.auth = auth
        self.username = username
        self.password = password
        default = {"library/busybox:latest": BUSYBOX_DIGEST}
        self.images = dict(images if images is not None else default)
        self.status = status
        self.tokens: dict[str, str] = {}  # token -> repository

    def handle(self, request: Request) -> Response:
        if self.status is not None:
            body = {"errors": [{"code": "UNKNOWN", "message": f"fake status {self.status}"}]}
            return Response.json(body, self.status)
        if request.path == "/token":
            return self._token(request)
        if self.auth == "basic" and not self._basic_ok(request):
            resp = _error(401, "UNAUTHORIZED", "authentication required")
            resp.headers["WWW-Authenticate"] = 'Basic realm="fake-registry"'
            return resp
        if request.path in ("/v2", "/v2/"):
            if self.auth == "bearer" and self._bearer(request) is None:
                return self._challenge()
            return Response.json({})
        match = _MANIFEST.match(request.path)
        if match is None:
            return _error(404, "NOT_FOUND", "not found")
        name, ref = match["name"], match["ref"]
        if self.auth == "bearer" and self._bearer(request) != name:
            return self._challenge(name)
        digest = self.images.get(f"{name}:{ref}") or self.images.get(f"{name}@{ref}")
        if digest is None:
            return _error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        body = b'{"schemaVersion":2}'
        return Response(200, body, {
            "Content-Type": "application/vnd.docker.distribution.manifest.v2+json",
            "Docker-Content-Digest": digest,
        })

    # -- auth ---------------------------------------------------------------------------------
    def _challenge(self, name: str | None = None) -> Response:
        value = f'Bearer realm="{self.url}/token",service="fake-registry"'
        if name is not None:
            value += f',scope="repository:{name}:pull"'
        resp = _error(401, "UNAUTHORIZED", "authentication required")
        resp.headers["WWW-Authenticate"] = value
        return resp

    def _bearer(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        return self.tokens.get(header.removeprefix("Bearer ").strip())

    def _basic_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user, password) == (self.username, self.password)

    def _token(self, request: Request) -> Response:
        if self.username is not None and not self._basic_ok(request):
            return Response.json({"details": "incorrect username or password"}, 401)
        scope = request.arg("scope") or ""
        parts = scope.split(":")
        repository = parts[1] if len(parts) >= 3 and parts[0] == "repository" else ""
        token = secrets.token_urlsafe(16)
        with self.lock:
            self.tokens[token] = repository
        return Response.json({"token": token, "access_token": token, "expires_in": 300})


def _error(status: int, code: str, message: str) -> Response:
    return Response.json({"errors": [{"code": code, "message": message}]}, status)

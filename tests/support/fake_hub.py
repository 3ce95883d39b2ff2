"""A fake Docker Hub in front of a real origin registry: token auth and blob redirects, on loopback.

It answers the way ``registry-1.docker.io`` does, so caches, proxies and workers are tested against
the two behaviours that break Docker Hub proxies in practice:

1. **Bearer token flow.** ``GET /v2/`` (and any repository request without a valid token) gets
   ``401`` with ``WWW-Authenticate: Bearer realm="http://127.0.0.1:<auth>/token",
   service="registry.docker.io"`` (plus ``scope`` on repository requests). The token server, on its
   own port like ``auth.docker.io``, issues an opaque token for
   ``scope=repository:<name>:pull``: anonymously, or only with HTTP Basic credentials when the hub
   was given ``username``/``password`` (wrong credentials always get 401). ``POST /token`` (the
   OAuth2 password grant some clients use) works too.
2. **Blobs live elsewhere.** ``GET``/``HEAD /v2/<name>/blobs/<digest>`` with a valid token answers
   ``307`` to a separate "storage" server (like ``production.cloudflare.docker.com``/R2) whose path
   contains ``/v2/`` like the real CDN's. Storage serves the blob from the origin, and rejects any
   request that carries an ``Authorization`` header with ``400`` and an S3-style
   ``Missing x-amz-content-sha256`` error, exactly what a proxy that forwards the client's token
   on the redirect gets from the real CDN.

Manifests and tag lists are proxied from the origin (a real ``docker-registry`` without auth).
Every request to any of the three servers is recorded in :attr:`FakeHub.log` with whether it
carried an ``Authorization`` header, so tests can assert the token flow and the redirect were
exercised. Each server is a :class:`tests.fakes.base.FakeServer`, so faults (429, 500, resets,
hangs) can be injected per server with ``hub.registry.inject(Fault(...))``; a request answered by
a fault shows in that server's own ``requests`` but not in :attr:`FakeHub.log`.
"""

from __future__ import annotations

import base64
import http.client
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qs, quote, urlsplit

from tests.fakes.base import FakeServer, Request, Response

ServerName = Literal["registry", "auth", "storage"]
SERVICE = "registry.docker.io"
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags)/(?P<rest>[^/]+)$")
_STORAGE_PATH = re.compile(
    r"^/registry-v2/docker/registry/v2/blobs/sha256/[0-9a-f]{2}/(?P<hex>[0-9a-f]{64})/data$"
)
# Response headers of the origin worth passing on; hop-by-hop and length are set by FakeServer.
_PASS_HEADERS = ("Content-Type", "Docker-Content-Digest", "Etag", "Link")
# FakeServer folds repeated request headers into one (the last), and Go clients send one Accept
# line per media type. Asking the origin with every manifest type makes it return what it stores,
# which is what Docker Hub does for single-platform images anyway.
_MANIFEST_ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/json",
        "*/*",
    )
)


@dataclass(frozen=True)
class HubRequest:
    """One request as one of the hub's servers saw it."""

    server: ServerName
    method: str
    path: str
    status: int
    authorization: str | None  # the Authorization header's scheme ("Bearer", "Basic") or None
    location: str | None = None  # Location of a redirect


@dataclass
class _Token:
    repositories: frozenset[str]
    subject: str | None  # user name, None when anonymous


@dataclass
class FakeHub:
    """Registry front + token server + blob storage over ``origin_url``; see the module docstring.

    Start with :meth:`start` (or as a context manager) and always :meth:`stop`.
    ``require_auth`` refuses anonymous tokens even without configured credentials.
    """

    origin_url: str
    username: str | None = None
    password: str | None = None
    require_auth: bool = False
    latency: float = 0.0
    log: list[HubRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.origin_url)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1" or parts.port is None:
            raise ValueError(f"origin must be http://127.0.0.1:<port>, got {self.origin_url}")
        self._origin_port = parts.port
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self.registry = _Server(self, "registry", self._handle_registry)
        self.auth = _Server(self, "auth", self._handle_auth)
        self.storage = _Server(self, "storage", self._handle_storage)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeHub:
        for server in (self.storage, self.auth, self.registry):
            server.start()
        return self

    def stop(self) -> None:
        # ThreadingHTTPServer.shutdown() waits up to its 0.5 s poll interval; stop the three
        # servers side by side rather than one after another.
        threads = [
            threading.Thread(target=s.stop) for s in (self.registry, self.auth, self.storage)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The registry API root, what ``proxy.remoteurl`` or a mirror list points at."""
        return self.registry.url

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>`` of the registry API, for image references."""
        return f"127.0.0.1:{self.registry.port}"

    def ref(self, repository: str) -> str:
        return f"{self.host}/{repository}"

    @property
    def realm(self) -> str:
        return f"{self.auth.url}/token"

    # -- observation --------------------------------------------------------------------------
    def requests(self, server: ServerName | None = None) -> list[HubRequest]:
        """Recorded requests, optionally of one server, oldest first."""
        with self._lock:
            return [r for r in self.log if server is None or r.server == server]

    def redirects(self) -> list[HubRequest]:
        """Blob requests the registry front answered with 307."""
        return [r for r in self.requests("registry") if r.status == 307]

    def storage_hits(self, status: int | None = 200) -> list[HubRequest]:
        """Requests the storage server answered (with ``status``; None for all)."""
        return [r for r in self.requests("storage") if status is None or r.status == status]

    def tokens_issued(self) -> int:
        return len(self._tokens)

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _record(self, entry: HubRequest) -> None:
        with self._lock:
            self.log.append(entry)

    # -- registry front (registry-1.docker.io) ---------------------------------------------------
    def _challenge(self, name: str | None = None, error: str | None = None) -> Response:
        value = f'Bearer realm="{self.realm}",service="{SERVICE}"'
        if name is not None:
            value += f',scope="repository:{name}:pull"'
        if error is not None:
            value += f',error="{error}"'
        resp = Response.json(
            {
                "errors": [
                    {"code": "UNAUTHORIZED", "message": "authentication required", "detail": None}
                ]
            },
            401,
        )
        resp.headers["WWW-Authenticate"] = value
        return resp

    def _token_of(self, request: Request) -> _Token | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        with self._lock:
            return self._tokens.get(header[len("Bearer ") :].strip())

    def _handle_registry(self, request: Request) -> Response:
        path = request.path
        if path in ("/v2", "/v2/"):
            if self._token_of(request) is None:
                return self._challenge()
            return Response.json({})
        match = _REPO_PATH.match(path)
        if match is None or request.method not in ("GET", "HEAD"):
            return (
                _error(404, "NOT_FOUND", "not found")
                if match is None
                else _error(405, "UNSUPPORTED", "the fake hub is read-only")
            )
        name, kind, rest = match["name"], match["kind"], match["rest"]
        token = self._token_of(request)
        if token is None:
            return self._challenge(name)
        if name not in token.repositories:
            return self._challenge(name, "insufficient_scope")
        if kind == "blobs":
            hexpart = rest.split(":", 1)[-1]
            if not rest.startswith("sha256:") or not re.fullmatch(r"[0-9a-f]{64}", hexpart):
                return _error(
                    400, "DIGEST_INVALID", "provided digest did not match uploaded content"
                )
            # Like the real CDN URL: the digest in the path, a (fake) signature in the query.
            location = (
                f"{self.storage.url}/registry-v2/docker/registry/v2/blobs/sha256/{hexpart[:2]}/{hexpart}/data"
                f"?repo={quote(name, safe='')}&verify={secrets.token_hex(8)}"
            )
            return Response(
                307, b"", {"Location": location, "Content-Type": "text/html; charset=utf-8"}
            )
        return self._origin("GET", f"/v2/{name}/{kind}/{rest}", {"Accept": _MANIFEST_ACCEPT})

    # -- token server (auth.docker.io) ------------------------------------------------------------
    def _handle_auth(self, request: Request) -> Response:
        if request.path != "/token" or request.method not in ("GET", "POST"):
            return Response.json({"details": "not found"}, 404)
        if request.method == "POST":
            form = _parse_form(request.body)
            scopes, user, password = (
                form.get("scope", []),
                _first(form, "username"),
                _first(form, "password"),
            )
        else:
            scopes = request.query.get("scope", [])
            user, password = _basic(request.headers.get("authorization"))
        if user is not None and (user != self.username or password != self.password):
            return Response.json({"details": "incorrect username or password"}, 401)
        if user is None and (self.require_auth or self.username is not None):
            return Response.json({"details": "incorrect username or password"}, 401)
        repositories = frozenset(
            parts[1]
            for scope in " ".join(scopes).split()
            if (parts := scope.split(":"))[0] == "repository"
            and len(parts) >= 3
            and "pull" in parts[2].split(",")
        )
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = _Token(repositories, user)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": 300,
            "issued_at": now,
        }
        return Response.json(body)

    # -- blob storage (the CDN) -------------------------------------------------------------------
    def _handle_storage(self, request: Request) -> Response:
        if "authorization" in request.headers:
            # What S3/R2 answers when a client forwards the registry's bearer token.
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidArgument</Code>'
                "<Message>Missing x-amz-content-sha256</Message></Error>"
            )
            return Response.text(xml, 400, "application/xml")
        match = _STORAGE_PATH.match(request.path)
        repo = request.arg("repo")
        if match is None or repo is None or request.method not in ("GET", "HEAD"):
            return Response.text("NoSuchKey", 404, "application/xml")
        resp = self._origin("GET", f"/v2/{repo}/blobs/sha256:{match['hex']}", {})
        if resp.status == 200:
            resp.headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        return resp

    # -- origin access ----------------------------------------------------------------------------
    def _origin(self, method: str, path: str, headers: dict[str, str]) -> Response:
        # Always GET: for a HEAD the body tells FakeServer the Content-Length to announce, and
        # FakeServer itself leaves the body out of HEAD answers.
        conn = http.client.HTTPConnection("127.0.0.1", self._origin_port, timeout=30)
        try:
            conn.request(method, path, headers=headers)
            upstream = conn.getresponse()
            body = upstream.read()
        except OSError as exc:
            return _error(503, "UNAVAILABLE", f"origin unreachable: {exc}")
        finally:
            conn.close()
        out = {k: v for k in _PASS_HEADERS if (v := upstream.getheader(k)) is not None}
        return Response(upstream.status, body, out)


class _Server(FakeServer):
    """One of the hub's three servers: dispatches to the hub and records into its log."""

    def __init__(
        self, hub: FakeHub, name: ServerName, handler: Callable[[Request], Response]
    ) -> None:
        super().__init__(latency=hub.latency)
        self.hub = hub
        self.name: ServerName = name
        self._handler = handler

    def handle(self, request: Request) -> Response:
        response = self._handler(request)
        auth = request.headers.get("authorization")
        self.hub._record(
            HubRequest(
                server=self.name,
                method=request.method,
                path=request.path,
                status=response.status,
                authorization=auth.split(" ", 1)[0] if auth else None,
                location=response.headers.get("Location"),
            )
        )
        return response


def _error(status: int, code: str, message: str) -> Response:
    return Response.json({"errors": [{"code": code, "message": message, "detail": None}]}, status)


def _basic(header: str | None) -> tuple[str | None, str | None]:
    """(user, password) from an HTTP Basic Authorization header, (None, None) if absent."""
    if not header or not header.startswith("Basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return "", ""  # present but garbled: a wrong credential, not anonymous
    return user, password


def _parse_form(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode(errors="replace"), keep_blank_values=True)


def _first(form: dict[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None

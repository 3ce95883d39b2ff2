"""A loopback HTTP server that fakes a remote API, for integration tests and benchmarks.

Each concrete fake (Nexus, Harbor, a Docker-Hub-like upstream) subclasses :class:`FakeServer` and
implements :meth:`FakeServer.handle`, a plain ``Request -> Response`` function over its own state
(the shape of httpx's ``MockTransport``). The base class adds what every fake needs:

- a real socket on 127.0.0.1 with a port picked by the kernel, served from a thread, so the CLI can
  run as a subprocess against it;
- a log of every request (method, path, status) so tests can count reads and writes;
- per-request latency, to benchmark against a "far away" server;
- fault injection: answer the Nth matching request with a 500, an HTML 502, a 429 with
  Retry-After, a connection reset or a hang past the client's read timeout.

Only loopback addresses are ever bound.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

FaultKind = Literal["500", "502-html", "429", "reset", "timeout"]
FAULT_KINDS: tuple[FaultKind, ...] = ("500", "502-html", "429", "reset", "timeout")
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH"})


@dataclass
class Request:
    """One request as the fake sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # keys lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        return cls(status, json.dumps(payload).encode(), hdrs)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Response:
        return cls(status, text.encode(), {"Content-Type": content_type})


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    status: int  # 0 when the connection was reset or left hanging

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass
class Fault:
    """Answer matching requests with a fault instead of handling them.

    ``skip`` matching requests pass first; then ``times`` of them get the fault.
    """

    kind: FaultKind
    method: str | None = None
    path_prefix: str = ""
    writes_only: bool = False
    skip: int = 0
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        if self.writes_only and method not in WRITE_METHODS:
            return False
        return path.startswith(self.path_prefix)


HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 makes the kernel drop SYNs when a client opens more connections
    # at once (parallel applies), and each dropped SYN costs the client a one-second retry.
    request_queue_size = 128


class FakeServer:
    """Base for stateful fakes. Subclasses implement :meth:`handle`.

    ``hang_seconds`` is how long a "timeout" fault holds the connection before closing it; set it
    above the client's read timeout.
    """

    def __init__(self, latency: float = 0.0, hang_seconds: float = 5.0) -> None:
        self.latency = latency
        self.hang_seconds = hang_seconds
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- to implement -------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> FakeServer:
        handler = _make_handler(self)
        self._httpd = _Server(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- observation --------------------------------------------------------------------------
    def writes(self) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.is_write]

    def reset_log(self) -> None:
        with self.lock:
            self.requests.clear()

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if not fault.matches(method, path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append(Recorded(method, path, status))


def fault_response(kind: FaultKind) -> Response | None:
    """The canned answer for a fault kind, or None for the socket-level kinds."""
    if kind == "500":
        return Response.json(
            {"errors": [{"code": "UNKNOWN", "message": "internal server error"}]}, 500
        )
    if kind == "502-html":
        return Response.text(HTML_502, 502, "text/html")
    if kind == "429":
        resp = Response.text("Too Many Requests", 429)
        resp.headers["Retry-After"] = "1"
        return resp
    return None


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; without TCP_NODELAY a keep-alive client
        # (requests.Session) waits ~40 ms per request on Nagle + delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if server.latency:
                time.sleep(server.latency)
            fault = server._take_fault(self.command, split.path)
            if fault is not None and fault.kind in ("reset", "timeout"):
                server._record(self.command, split.path, 0)
                if fault.kind == "timeout":
                    time.sleep(server.hang_seconds)
                self._abort()
                return
            if fault is not None:
                resp = fault_response(fault.kind)
                assert resp is not None
            else:
                request = Request(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    resp = server.handle(request)
                except Exception as exc:  # a bug in the fake must still answer, loudly
                    resp = Response.text(f"fake server error: {exc!r}", 599)
            server._record(self.command, split.path, resp.status)
            self.send_response(resp.status)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        def _abort(self) -> None:
            # SO_LINGER 0 makes close() send an RST: the client sees "connection reset".
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

    return Handler


JsonHandler = Callable[[Request], Response]

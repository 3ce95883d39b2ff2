"""Probe: challenge parsing, image paths, failure classification, and each step against fakes.

The probes run against :class:`tests.fakes.probe_upstream.FakeUpstream` servers on 127.0.0.1
(in-process), so the real HTTP stack (requests, timeouts, TLS) is exercised.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from provisioner.errors import ApiError, BadResponse, ServerError, Unreachable
from provisioner.probe import image_path, plan_tasks, probe_profile, probe_tasks
from provisioner.probe.client import ProbeClient, classify, parse_challenge
from provisioner.probe.render import render_json, render_text, report_to_json
from provisioner.probe.result import ProbeResult, ProbeTask
from provisioner.profile import parse_profile
from provisioner.profile.model import Profile
from tests.fakes.base import _make_handler
from tests.fakes.probe_upstream import BUSYBOX_DIGEST, FakeUpstream

# -- pure helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"', "bearer",
         {"realm": "https://auth.docker.io/token", "service": "registry.docker.io"}),
        ('Bearer realm="http://h/token",service="s",scope="repository:library/x:pull"', "bearer",
         {"realm": "http://h/token", "service": "s", "scope": "repository:library/x:pull"}),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        ("Bearer realm=http://h/t, service=s", "bearer", {"realm": "http://h/t", "service": "s"}),
        ("Negotiate", "negotiate", {}),
    ],
)
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = parse_challenge(header)
    assert challenge is not None
    assert (challenge.scheme, challenge.params) == (scheme, params)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_parse_challenge_empty(header: str | None) -> None:
    assert parse_challenge(header) is None


@pytest.mark.parametrize(
    ("image", "layout", "expected"),
    [
        ("library/busybox:latest", "docker-hub", ("library/busybox", "latest")),
        ("busybox:1.36", "docker-hub", ("library/busybox", "1.36")),
        ("busybox", "docker-hub", ("library/busybox", "latest")),
        ("library/busybox:latest", "plain", ("busybox", "latest")),
        ("bitnami/redis:7", "docker-hub", ("bitnami/redis", "7")),
        ("bitnami/redis:7", "plain", ("bitnami/redis", "7")),
        ("library/alpine@sha256:" + "a" * 64, "plain", ("alpine", "sha256:" + "a" * 64)),
    ],
)
def test_image_path(image: str, layout: str, expected: tuple[str, str]) -> None:
    assert image_path(image, layout) == expected


def _down(message: str, cls: type[ApiError] = Unreachable, method: str = "GET") -> ApiError:
    return cls(message, method=method, url="http://x/v2/", hint="a hint is not part of the reason")


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        (_down("DNS lookup failed"), "dns", "DNS lookup failed"),
        (_down("connection refused"), "connect", "connection refused"),
        (_down("connection reset"), "connect", "connection reset"),
        (_down("TLS certificate not trusted"), "tls", "TLS certificate not trusted"),
        (_down("no answer within 2s"), "timeout", "no answer within 2s"),
        (_down("timed out", method="HEAD"), "timeout", "timed out"),
        (_down("redirect loop", BadResponse), "response", "redirect loop"),
        (_down("still failing after retries", ServerError), "http", "still failing after retries"),
    ],
)
def test_classify(error: ApiError, kind: str, reason: str) -> None:
    assert classify(error) == (kind, reason)


# -- probes against fakes -----------------------------------------------------------------------


@pytest.fixture
def servers() -> Iterator[list[FakeUpstream]]:
    started: list[FakeUpstream] = []
    yield started
    for server in started:
        server.stop()


def _start(servers: list[FakeUpstream], **kwargs: object) -> FakeUpstream:
    server = FakeUpstream(**kwargs).start()  # type: ignore[arg-type]
    servers.append(server)
    return server


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _profile(upstreams: dict[str, str], timeout: str = "2s", extra: str = "",
             cache: str | None = None) -> Profile:
    """A profile with one cache over ``upstreams`` (name -> YAML flow mapping body)."""
    lines = ["version: 1", "upstreams:"]
    lines += [f"  {name}: {{kind: registry, {body}}}" for name, body in upstreams.items()]
    lines += ["caches:", f"  hub: {cache or '{upstreams: [' + ', '.join(upstreams) + ']}'}"]
    lines += [f"probe: {{timeout: {timeout}}}", extra]
    return parse_profile("\n".join(lines), "test.yaml")


def _probe_one(body: str, timeout: str = "2s") -> ProbeResult:
    report = probe_profile(_profile({"up": body}, timeout))
    assert len(report.results) == 1
    return report.results[0]


def test_bearer_token_flow_anonymous(servers: list[FakeUpstream]) -> None:
    up = _start(servers)
    result = _probe_one(f"url: {up.url}")
    assert result.healthy, result
    assert result.digest == BUSYBOX_DIGEST
    steps = [(s.name, s.status, s.ok) for s in result.steps]
    assert steps == [("ping", 401, True), ("token", 200, True), ("manifest", 200, True)]
    assert [(r.method, r.path) for r in up.requests] == [
        ("GET", "/v2/"), ("GET", "/token"), ("HEAD", "/v2/library/busybox/manifests/latest")]


def test_bearer_token_flow_with_credentials(servers: list[FakeUpstream]) -> None:
    up = _start(servers, username="puller", password="s3cret-pw")
    good = _probe_one(f"url: {up.url}, username: puller, password: s3cret-pw")
    assert good.healthy, good
    wrong = _probe_one(f"url: {up.url}, username: puller, password: wrong-pw")
    assert (wrong.healthy, wrong.error, wrong.step) == (False, "auth", "token")
    assert "refused the upstream's credentials (HTTP 401" in wrong.reason
    anonymous = _probe_one(f"url: {up.url}")
    assert anonymous.error == "auth"
    assert "refused anonymous access" in anonymous.reason


def test_basic_auth_and_open_registries(servers: list[FakeUpstream]) -> None:
    basic = _start(servers, auth="basic", username="u", password="pw-basic")
    assert _probe_one(f"url: {basic.url}, username: u, password: pw-basic").healthy
    without = _probe_one(f"url: {basic.url}")
    assert (without.error, without.step) == ("auth", "ping")
    open_ = _start(servers, auth="none")
    result = _probe_one(f"url: {open_.url}")
    assert result.healthy and result.step_seconds("token") is None


def test_layout_decides_library_prefix(servers: list[FakeUpstream]) -> None:
    plain = _start(servers, images={"busybox:latest": BUSYBOX_DIGEST})
    assert _probe_one(f"url: {plain.url}, layout: plain").healthy
    assert plain.requests[-1].path == "/v2/busybox/manifests/latest"
    missing = _probe_one(f"url: {plain.url}")
    assert (missing.error, missing.step) == ("http", "manifest")
    assert "probe image library/busybox:latest not found (HTTP 404" in missing.reason


@pytest.mark.parametrize(
    ("status", "kind", "fragment"),
    [
        (500, "http", "HTTP 500 on GET /v2/: UNKNOWN: fake status 500"),
        (502, "http", "HTTP 502 on GET /v2/"),
        (429, "http", "rate limited (HTTP 429 on GET /v2/)"),
        (403, "auth", "GET /v2/ refused (HTTP 403)"),
    ],
)
def test_error_statuses(servers: list[FakeUpstream], status: int, kind: str, fragment: str) -> None:
    up = _start(servers, status=status)
    result = _probe_one(f"url: {up.url}")
    assert (result.healthy, result.error, result.step) == (False, kind, "ping")
    assert fragment in result.reason
    assert len(up.requests) == 1, "a probe never retries"


def test_refused_dns_and_hanging(servers: list[FakeUpstream]) -> None:
    hanging = _start(servers, latency=30.0)
    profile = _profile({
        "refused": f"url: {_dead_url()}",
        "nodns": "url: http://no-such-host.invalid",
        "hangs": f"url: {hanging.url}",
    }, timeout="500ms")
    by_name = {r.upstream: r for r in probe_profile(profile).results}
    refused = by_name["refused"]
    assert (refused.error, refused.reason) == ("connect", "connection refused")
    # "dns" where the resolver answers NXDOMAIN; a resolver that does not answer at all makes it
    # a timeout, which is the right report there.
    assert by_name["nodns"].error in ("dns", "timeout"), by_name["nodns"]
    assert (by_name["hangs"].error, by_name["hangs"].step) == ("timeout", "ping")
    assert by_name["hangs"].reason == "timed out after 0.5s"


def test_no_challenge_and_no_token_are_bad_responses(servers: list[FakeUpstream]) -> None:
    class NoChallenge(FakeUpstream):
        def handle(self, request):  # type: ignore[no-untyped-def]
            response = super().handle(request)
            response.headers.pop("WWW-Authenticate", None)
            return response

    class NoToken(FakeUpstream):
        def _token(self, request):  # type: ignore[no-untyped-def]
            from tests.fakes.base import Response
            return Response.json({"nothing": "here"})

    for cls, step, fragment in ((NoChallenge, "ping", "without a challenge"),
                                (NoToken, "token", "without a token")):
        server = cls().start()
        servers.append(server)
        result = _probe_one(f"url: {server.url}")
        assert (result.error, result.step) == ("response", step)
        assert fragment in result.reason


def test_deadline_holds_while_a_probe_is_stuck(monkeypatch: pytest.MonkeyPatch,
                                               servers: list[FakeUpstream]) -> None:
    # A request that ignores its own timeout (a DNS lookup that never returns): the run must come
    # back at the deadline, report a timeout at the stuck step, and leave the thread behind.
    release = threading.Event()
    real_send = ProbeClient.send

    def stuck_send(self: ProbeClient, method: str, path: str, **kwargs: object) -> object:
        if self.base_url.endswith(":9"):
            release.wait(30)
            raise Unreachable("released", method=method, url=path)
        return real_send(self, method, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ProbeClient, "send", stuck_send)
    healthy = _start(servers)
    profile = _profile({"stuck": "url: http://127.0.0.1:9", "ok": f"url: {healthy.url}"}, "300ms")
    report = probe_profile(profile)
    still_stuck = not release.is_set()
    release.set()
    assert still_stuck, "probe_profile waited for the stuck thread"
    by_name = {r.upstream: r for r in report.results}
    assert (by_name["stuck"].error, by_name["stuck"].step) == ("timeout", "ping")
    assert by_name["stuck"].steps[-1].detail == "no answer"
    assert by_name["ok"].healthy


def test_plan_tasks_one_per_upstream_and_image() -> None:
    profile = parse_profile(
        "version: 1\n"
        "upstreams:\n"
        "  a: {kind: registry, url: http://127.0.0.1:1}\n"
        "  b: {kind: registry, url: http://127.0.0.1:2}\n"
        "  c: {kind: registry, url: http://127.0.0.1:3}\n"
        "caches:\n"
        "  one: {upstreams: [b, a]}\n"
        "  two: {upstreams: [a], probe_image: 'library/alpine:3'}\n"
        "  three: {upstreams: [b]}\n",
        "t.yaml",
    )
    assert plan_tasks(profile) == [
        ProbeTask("a", "library/busybox:latest"),
        ProbeTask("a", "library/alpine:3"),
        ProbeTask("b", "library/busybox:latest"),
    ]
    assert plan_tasks(profile, every_upstream=True)[-1] == ProbeTask("c", "library/busybox:latest")
    assert plan_tasks(profile, caches=["two"]) == [ProbeTask("a", "library/alpine:3")]
    assert probe_tasks(profile, []).results == ()


def test_renderers(servers: list[FakeUpstream]) -> None:
    from provisioner.failover import select

    up = _start(servers)
    profile = _profile({"good": f"url: {up.url}", "bad": f"url: {_dead_url()}"})
    report = probe_profile(profile)
    selection = select(profile, report)
    text = render_text(report, profile, selection)
    assert "Probe image: library/busybox:latest" in text
    assert "sha256:bbbbbbbbbbbb" in text and "DOWN (connect)" in text
    assert "hub  first-healthy  -> good: good is the first listed upstream and healthy" in text
    assert "1 of 2 upstream probes healthy" in text
    data = report_to_json(report, profile, selection)
    assert [u["healthy"] for u in data["upstreams"]] == [True, False]
    assert data["upstreams"][1]["error"] == "connect"
    assert data["caches"][0]["active"] == "good"
    assert render_json(report, profile, selection).endswith("}\n")


# -- TLS ------------------------------------------------------------------------------------------


class TlsUpstream(FakeUpstream):
    """FakeUpstream over HTTPS with a given certificate."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self.cert, self.key = cert, key

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> TlsUpstream:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_tls_verified_by_default_ca_file_and_insecure(
    certificate: tuple[Path, Path], servers: list[FakeUpstream], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = certificate
    server = TlsUpstream(cert, key).start()
    servers.append(server)
    untrusted = _probe_one(f"url: {server.url}")
    assert (untrusted.error, untrusted.step) == ("tls", "ping"), untrusted
    assert _probe_one(f"url: {server.url}, ca_file: {cert}").healthy
    with caplog.at_level("WARNING"):
        insecure = _probe_one(f"url: {server.url}, insecure: true")
    assert insecure.healthy and insecure.insecure
    assert "TLS verification is OFF" in caplog.text

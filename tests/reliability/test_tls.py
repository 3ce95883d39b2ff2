"""TLS (issue 7.4): verification is on by default, ``ca_file`` per target and per upstream,
``insecure: true`` warns, and ``REQUESTS_CA_BUNDLE`` never overrides a profile's choice.

Real TLS servers on 127.0.0.1 with a CA made in the test (``cryptography``): the fake Nexus as a
target, a fake registry as an upstream. The trap being guarded against is psf/requests#3829:
requests replaces ``Session.verify`` with ``REQUESTS_CA_BUNDLE`` whenever it is set, so only a
``verify=`` given on each request survives; :mod:`provisioner.http` passes it every time.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from provisioner.errors import Unreachable
from provisioner.http import HttpClient, Tls
from tests.conftest import REPO, cli_command, subprocess_env
from tests.fakes.nexus import NexusFake
from tests.fakes.probe_upstream import FakeUpstream
from tests.reliability.tlsutil import Ca, issue, make_ca, serve_tls

STATUS = "/service/rest/v1/status"
PASSWORD = "Tls-Nexus-Pass-4242"


class TlsUpstream(FakeUpstream):
    @property
    def url(self) -> str:  # the token realm it announces must be https too
        return f"https://127.0.0.1:{self.port}"


@dataclass
class Pki:
    ca: Ca
    other: Ca  # a CA that signed nothing here
    root: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    return Pki(make_ca(root / "ca"), make_ca(root / "other", "other CA"), root)


@pytest.fixture
def nexus(pki: Pki) -> Iterator[tuple[NexusFake, str]]:
    fake = NexusFake(bootstrapped=True, admin_password=PASSWORD)
    url = serve_tls(fake, issue(pki.ca, pki.root / "nexus"))
    yield fake, url
    fake.stop()


@pytest.fixture
def upstream(pki: Pki) -> Iterator[str]:
    fake = TlsUpstream()
    url = serve_tls(fake, issue(pki.ca, pki.root / "upstream", name="upstream"))
    yield url
    fake.stop()


def _get(url: str, tls: Tls) -> int:
    return HttpClient(url, tls=tls, timeout=5).request("GET", STATUS).status_code


# -- the HTTP edge ------------------------------------------------------------------------------
def test_verification_is_on_by_default(nexus: tuple[NexusFake, str]) -> None:
    with pytest.raises(Unreachable) as info:
        _get(nexus[1], Tls())
    assert "TLS certificate not trusted" in str(info.value)
    assert "set ca_file" in str(info.value)


def test_ca_file_and_insecure(nexus: tuple[NexusFake, str], pki: Pki,
                              caplog: pytest.LogCaptureFixture) -> None:
    assert _get(nexus[1], Tls(ca_file=pki.ca.pem)) == 200
    with pytest.raises(Unreachable, match="not trusted .*other-CA.pem"):
        _get(nexus[1], Tls(ca_file=pki.other.pem))
    with caplog.at_level(logging.WARNING):
        assert _get(nexus[1], Tls(insecure=True)) == 200
    assert f"TLS verification is OFF for {nexus[1]}" in caplog.text


@pytest.mark.parametrize("bundle", ["other", "garbage", "missing"])
def test_requests_ca_bundle_does_not_override_the_profile(
        nexus: tuple[NexusFake, str], pki: Pki, monkeypatch: pytest.MonkeyPatch,
        bundle: str) -> None:
    path = {"other": pki.other.pem, "garbage": pki.root / "garbage.pem",
            "missing": pki.root / "missing.pem"}[bundle]
    (pki.root / "garbage.pem").write_text("not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(path))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(path))
    # The control: a plain Session's own verify= loses against the environment (requests#3829).
    session = requests.Session()
    session.verify = str(pki.ca.pem)
    with pytest.raises((requests.exceptions.SSLError, OSError)):
        session.get(nexus[1] + STATUS, timeout=5)
    # The profile's choices, through HttpClient, win.
    assert _get(nexus[1], Tls(ca_file=pki.ca.pem)) == 200
    assert _get(nexus[1], Tls(insecure=True)) == 200


def test_without_a_profile_choice_the_environment_bundle_is_the_default(
        nexus: tuple[NexusFake, str], pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    # As with curl and pip: no ca_file and no insecure means "the default trust store", which
    # REQUESTS_CA_BUNDLE names when set. An empty CURL_CA_BUNDLE does not turn checks off.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca.pem))
    assert _get(nexus[1], Tls()) == 200
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.setenv("CURL_CA_BUNDLE", "")
    with pytest.raises(Unreachable, match="not trusted"):
        _get(nexus[1], Tls())


@pytest.mark.parametrize(("problem", "expected"), [
    ("missing", r"ca_file \S+missing.pem does not exist"),
    ("garbage", r"ca_file holds no PEM certificate"),
    ("wrong-host", r"TLS certificate is not valid for this host name or address"),
])
def test_tls_mistakes_are_one_clear_error(pki: Pki, problem: str, expected: str) -> None:
    fake = NexusFake(bootstrapped=True)
    hosts = ("localhost",) if problem == "wrong-host" else ("127.0.0.1",)
    url = serve_tls(fake, issue(pki.ca, pki.root / problem, hosts=hosts, name=problem))
    ca_file = {"missing": pki.root / "missing.pem", "garbage": pki.root / "garbage.pem",
               "wrong-host": pki.ca.pem}[problem]
    (pki.root / "garbage.pem").write_text("not a certificate\n")
    try:
        with pytest.raises(Unreachable) as info:
            _get(url, Tls(ca_file=ca_file))
    finally:
        fake.stop()
    message = str(info.value)
    assert re.search(expected, message), message
    assert "\n" not in message


def test_every_request_carries_verify(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_request(self: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        seen.append(kwargs.get("verify", "absent"))
        raise requests.exceptions.ConnectionError("stop here")

    monkeypatch.setattr(requests.Session, "request", fake_request)
    for tls, verify in ((Tls(), True), (Tls(ca_file=pki.ca.pem), str(pki.ca.pem)),
                        (Tls(insecure=True), False)):
        with pytest.raises(Unreachable):
            HttpClient("https://127.0.0.1:1", tls=tls).request("GET", "/")
        assert seen[-1] == verify


def test_no_request_bypasses_the_http_edge() -> None:
    """Only provisioner/http.py may call requests; everything else goes through HttpClient."""
    direct = re.compile(r"requests\.(get|post|put|delete|head|patch|request|Session)\(")
    offenders = [str(path.relative_to(REPO)) for path in (REPO / "provisioner").rglob("*.py")
                 if path.name != "http.py" and direct.search(path.read_text())]
    assert offenders == []


# -- through the CLI ----------------------------------------------------------------------------
def _profile(tmp_path: Path, nexus_url: str, upstream_url: str, *, target_tls: str = "",
             upstream_tls: str = "") -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(f"""\
        version: 1
        probe: {{enabled: false, timeout: 3s}}
        upstreams:
          secure: {{kind: registry, url: '{upstream_url}'{upstream_tls}}}
        caches:
          hub: {{upstreams: [secure]}}
        targets:
          hq:
            kind: nexus
            url: {nexus_url}
            username: admin
            password: ${{TLS_NEXUS_PASSWORD}}
            timeout: 5s
        """) + "".join(f"    {line}\n" for line in target_tls.splitlines()), encoding="utf-8")
    return path


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=60,
                          env=subprocess_env(TLS_NEXUS_PASSWORD=PASSWORD, **env), check=False)


def test_cli_target_tls(tmp_path: Path, pki: Pki, nexus: tuple[NexusFake, str],
                        upstream: str) -> None:
    url = nexus[1]
    untrusted = _cli("diff", str(_profile(tmp_path, url, upstream)))
    assert untrusted.returncode == 1
    assert untrusted.stderr.count("\n") == 1 and "Traceback" not in untrusted.stderr
    assert untrusted.stderr.startswith(f"Error: GET {url}/service/rest/")
    assert "TLS certificate not trusted (hint: set ca_file" in untrusted.stderr

    trusted = _profile(tmp_path, url, upstream, target_tls=f"ca_file: {pki.ca.pem}")
    done = _cli("diff", str(trusted), "--detailed-exitcode",
                REQUESTS_CA_BUNDLE=str(pki.other.pem))
    assert done.returncode == 2, done.stderr  # planned fine: changes to make
    assert "nexus.hq.repository.hub-secure will be created" in done.stdout
    assert "TLS verification is OFF" not in done.stderr

    insecure = _cli("diff", str(_profile(tmp_path, url, upstream, target_tls="insecure: true")))
    assert insecure.returncode == 0, insecure.stderr
    assert insecure.stderr.count(f"TLS verification is OFF for {url}") == 1


def test_cli_upstream_tls_in_probe(tmp_path: Path, pki: Pki, nexus: tuple[NexusFake, str],
                                   upstream: str) -> None:
    def probe(upstream_tls: str, **env: str) -> tuple[int, dict[str, Any], str]:
        profile = _profile(tmp_path, nexus[1], upstream, upstream_tls=upstream_tls)
        done = _cli("probe", str(profile), "--json", **env)
        assert "Traceback" not in done.stderr
        return done.returncode, json.loads(done.stdout)["upstreams"][0], done.stderr

    code, report, _ = probe("")
    assert code == 1 and report["healthy"] is False
    assert "TLS certificate not trusted" in report["reason"]

    code, report, _ = probe(f", ca_file: '{pki.ca.pem}'", REQUESTS_CA_BUNDLE=str(pki.other.pem))
    assert code == 0 and report["healthy"] is True, report

    code, report, stderr = probe(", insecure: true")
    assert code == 0 and report["healthy"] is True, report
    assert f"TLS verification is OFF for {upstream}" in stderr

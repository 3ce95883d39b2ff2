"""`probe`, probing `diff`/`apply`, and `watch`, through the CLI as a subprocess, against fake
upstreams on 127.0.0.1 (healthy with a token flow, refusing connections, hanging, answering 500).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.probe_upstream import BUSYBOX_DIGEST, FakeUpstream

CLI = [sys.executable, "-m", "provisioner.cli"]
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2} ", re.M)


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def servers() -> Iterator[Callable[..., FakeUpstream]]:
    started: list[FakeUpstream] = []

    def start(**kwargs: object) -> FakeUpstream:
        server = FakeUpstream(**kwargs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def write_profile(path: Path, upstreams: dict[str, str], caches: str, targets: str = "",
                  probe: str = "{timeout: 2s}") -> Path:
    lines = ["version: 1", "upstreams:"]
    lines += [f"  {name}: {{kind: registry, {body}}}" for name, body in upstreams.items()]
    lines += ["caches:", caches]
    if targets:
        lines += ["targets:", targets]
    lines.append(f"probe: {probe}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_probe_five_upstreams(tmp_path: Path, servers: Callable[..., FakeUpstream]) -> None:
    healthy = servers()
    with_creds = servers(username="puller", password="pull-secret-1")
    hanging = servers(latency=60.0)
    failing = servers(status=500)
    profile = write_profile(tmp_path / "p.yaml", {
        "healthy": f"url: {healthy.url}",
        "with-creds": f"url: {with_creds.url}, username: puller, password: pull-secret-1",
        "refusing": f"url: {dead_url()}",
        "hanging": f"url: {hanging.url}",
        "failing": f"url: {failing.url}",
    }, "  hub: {upstreams: [refusing, hanging, failing, healthy, with-creds]}")

    started = time.monotonic()
    done = run_cli("probe", str(profile), "--json")
    wall = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    by_name = {u["name"]: u for u in report["upstreams"]}
    assert list(by_name) == ["healthy", "with-creds", "refusing", "hanging", "failing"]
    for name in ("healthy", "with-creds"):
        assert by_name[name]["healthy"] is True
        assert by_name[name]["digest"] == BUSYBOX_DIGEST
        assert [(s["name"], s["status"]) for s in by_name[name]["steps"]] == [
            ("ping", 401), ("token", 200), ("manifest", 200)]
    assert (by_name["refusing"]["error"], by_name["refusing"]["reason"]) == (
        "connect", "connection refused")
    assert (by_name["hanging"]["error"], by_name["hanging"]["failed_step"]) == ("timeout", "ping")
    assert by_name["hanging"]["reason"] == "timed out after 2s"
    assert by_name["failing"]["error"] == "http"
    assert by_name["failing"]["reason"].startswith("HTTP 500 on GET /v2/")
    assert report["caches"][0]["active"] == "healthy"
    assert report["caches"][0]["reason"].endswith("switching to healthy")
    # Loose: one timeout plus a margin, not 60 s of hanging nor the sum of every probe.
    assert report["elapsed_ms"] < 2000 + 1500, report["elapsed_ms"]
    assert wall < 2 + 15, wall
    assert "pull-secret-1" not in done.stdout + done.stderr

    text = run_cli("probe", str(profile))
    assert text.returncode == 1
    assert re.search(r"^hanging\s+http://127\.0\.0\.1:\d+\s+DOWN \(timeout\)\s.*"
                     r"timed out after 2s$", text.stdout, re.M), text.stdout
    assert "2 of 5 upstream probes healthy" in text.stdout


def test_probe_all_healthy_exits_zero(tmp_path: Path, servers: Callable[..., FakeUpstream]) -> None:
    a, b = servers(), servers(auth="none")
    profile = write_profile(tmp_path / "p.yaml", {"a": f"url: {a.url}", "b": f"url: {b.url}"},
                            "  hub: {upstreams: [a, b], select: fastest}")
    done = run_cli("probe", str(profile))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 2 upstream probes healthy" in done.stdout
    assert "is the fastest healthy upstream" in done.stdout


def _registry_profile(tmp_path: Path, a: str, b: str, probe: str = "{timeout: 1s}") -> Path:
    target = f"  edge: {{kind: registry, output: {tmp_path / 'out'}, listen: 127.0.0.1:5999}}"
    return write_profile(tmp_path / "p.yaml", {"primary": f"url: {a}", "secondary": f"url: {b}"},
                         "  hub: {upstreams: [primary, secondary]}", target, probe)


def _remote(tmp_path: Path) -> str:
    config = yaml.safe_load((tmp_path / "out" / "hub" / "config.yml").read_text())
    return str(config["proxy"]["remoteurl"])


def test_diff_and_apply_probe_first(tmp_path: Path, servers: Callable[..., FakeUpstream]) -> None:
    primary, secondary = servers(), servers()
    profile = _registry_profile(tmp_path, primary.url, secondary.url)
    created = run_cli("apply", "-y", str(profile))
    assert created.returncode == 0, created.stderr
    assert "(primary is the first listed upstream and healthy" in created.stdout
    assert _remote(tmp_path) == primary.url

    primary.stop()
    planned = run_cli("diff", str(profile), "--detailed-exitcode")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "Warning: upstream primary is down: connection refused" in planned.stdout
    assert ("~ registry.edge.hub/config.yml will be updated in place (primary down: connection "
            "refused; switching to secondary)") in planned.stdout
    as_json = json.loads(run_cli("diff", str(profile), "--json").stdout)
    assert {"target": None, "level": "warning",
            "message": "upstream primary is down: connection refused"} in as_json["notes"]

    unprobed = run_cli("diff", str(profile), "--no-probe", "--detailed-exitcode")
    assert unprobed.returncode == 0, unprobed.stdout
    assert "down" not in unprobed.stdout

    applied = run_cli("apply", "-y", str(profile))
    assert applied.returncode == 0, applied.stderr
    assert _remote(tmp_path) == secondary.url


def test_probe_disabled_in_profile_keeps_listed_order(tmp_path: Path,
                                                      servers: Callable[..., FakeUpstream]) -> None:
    secondary = servers()
    profile = _registry_profile(tmp_path, dead_url(), secondary.url, "{enabled: false}")
    done = run_cli("apply", "-y", str(profile))
    assert done.returncode == 0, done.stderr
    assert "down" not in done.stdout
    assert _remote(tmp_path) != secondary.url


def test_every_upstream_down_changes_nothing_and_says_why(
    tmp_path: Path, servers: Callable[..., FakeUpstream]
) -> None:
    primary, secondary = servers(), servers()
    primary_url = primary.url
    profile = _registry_profile(tmp_path, primary_url, secondary.url)
    assert run_cli("apply", "-y", str(profile)).returncode == 0
    config = tmp_path / "out" / "hub" / "config.yml"
    before = config.read_bytes()
    primary.stop()
    secondary.stop()

    done = run_cli("apply", "-y", str(profile))
    assert done.returncode == 0, done.stderr
    assert "No changes." in done.stdout
    assert "Warning: upstream primary is down: connection refused" in done.stdout
    assert "Warning: upstream secondary is down: connection refused" in done.stdout
    assert "Warning: cache hub: every upstream is down; targets keep the upstream they have" \
        in done.stdout
    assert f"keeping {primary_url}" in done.stdout
    assert config.read_bytes() == before


HOOK = """\
import os, sys
with open(sys.argv[1], "a") as out:
    out.write(f"{os.environ['PROVISIONER_CACHE']} {os.environ['PROVISIONER_UPSTREAM']}\\n")
"""


def _wait_for(predicate: Callable[[], bool], what: str, proc: subprocess.Popen[str],
              timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"watch exited early ({proc.returncode}) waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_watch_switches_runs_hook_and_stops_cleanly(
    tmp_path: Path, servers: Callable[..., FakeUpstream], stop_signal: signal.Signals
) -> None:
    primary, secondary = servers(), servers()
    profile = _registry_profile(tmp_path, primary.url, secondary.url)
    hook, calls = tmp_path / "hook.py", tmp_path / "calls.txt"
    hook.write_text(HOOK)
    log = tmp_path / "watch.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [*CLI, "watch", str(profile), "--interval", "200ms",
             "--on-change", f"{sys.executable} {hook} {calls}"],
            stdout=subprocess.DEVNULL, stderr=stderr, text=True, stdin=subprocess.DEVNULL,
        )
    try:
        def hook_lines() -> list[str]:
            return calls.read_text().splitlines() if calls.exists() else []

        _wait_for(lambda: hook_lines() == ["hub primary"], "the first apply and hook", proc)
        primary.stop()
        _wait_for(lambda: hook_lines() == ["hub primary", "hub secondary"], "the switch", proc)
        assert _remote(tmp_path) == secondary.url
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    # The probe may meet the primary while it shuts down: refused, reset or closed.
    assert re.search(r"cache hub: primary -> secondary \(primary down: [^;]+; switching to "
                     r"secondary\)", text), text
    assert f"{stop_signal.name} received; finished the round in progress" in text
    assert re.search(r"watch stopped after \d+ round\(s\)$", text.strip())
    lines = text.strip().splitlines()
    assert all(TIMESTAMP.match(line) for line in lines), text

"""Benchmark: probing is concurrent and bounded by one timeout.

1. 20 loopback upstreams, each delaying every request by 200 ms. A probe makes three requests
   (GET /v2/ -> 401 challenge, token, manifest HEAD), so one upstream takes >= 600 ms and probing
   them one after another would take >= 12 s. Target: the whole run < 1 s.
2. 5 loopback upstreams: 2 healthy, 1 refusing connections, 1 accepting and then hanging, 1
   answering HTTP 500, with ``probe.timeout: 2s``. Target: about one timeout (2 s + a margin).

Both are measured in-process (``probe_profile``) and through the CLI (``provisioner probe``,
which adds interpreter start-up). Run from the repository root: ``python bench/probe_20.py``.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provisioner.probe import probe_profile  # noqa: E402
from provisioner.profile import parse_profile  # noqa: E402
from tests.fakes.probe_upstream import FakeUpstream  # noqa: E402

RUNS = 5


def profile_text(urls: dict[str, str], timeout: str) -> str:
    lines = ["version: 1", "upstreams:"]
    lines += [f"  {name}: {{kind: registry, url: {url}}}" for name, url in urls.items()]
    lines += ["caches:", f"  hub: {{upstreams: [{', '.join(urls)}]}}"]
    lines.append(f"probe: {{timeout: {timeout}}}")
    return "\n".join(lines) + "\n"


def measure(text: str, expect_healthy: int) -> tuple[list[float], list[float]]:
    """(in-process wall times, CLI wall times) over RUNS runs."""
    profile = parse_profile(text, "bench.yaml")
    inproc, cli = [], []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "profile.yaml"
        path.write_text(text)
        for _ in range(RUNS):
            started = time.monotonic()
            report = probe_profile(profile)
            inproc.append(time.monotonic() - started)
            healthy = sum(r.healthy for r in report.results)
            assert healthy == expect_healthy, [(r.upstream, r.reason) for r in report.results]
            started = time.monotonic()
            subprocess.run([sys.executable, "-m", "provisioner.cli", "probe", str(path)],
                           capture_output=True, check=False)
            cli.append(time.monotonic() - started)
    return inproc, cli


def show(title: str, inproc: list[float], cli: list[float]) -> None:
    print(title)
    for label, values in (("in-process", inproc), ("CLI       ", cli)):
        print(f"  {label}: median {statistics.median(values):.3f}s  min {min(values):.3f}s  "
              f"max {max(values):.3f}s  ({len(values)} runs)")


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def main() -> None:
    slow = [FakeUpstream(latency=0.2).start() for _ in range(20)]
    try:
        urls = {f"up{i:02d}": s.url for i, s in enumerate(slow)}
        inproc, cli = measure(profile_text(urls, "5s"), expect_healthy=20)
        show("20 upstreams, 200 ms per request (3 requests per probe; serial would be >= 12 s):",
             inproc, cli)
        verdict = "OK" if statistics.median(inproc) < 1.0 else "TOO SLOW"
        print(f"  target < 1 s in-process: {verdict}")
    finally:
        for server in slow:
            server.stop()

    mixed = [FakeUpstream().start(), FakeUpstream().start(),
             FakeUpstream(latency=60.0).start(), FakeUpstream(status=500).start()]
    try:
        urls = {"healthy-1": mixed[0].url, "healthy-2": mixed[1].url, "refusing": dead_url(),
                "hanging": mixed[2].url, "failing": mixed[3].url}
        inproc, cli = measure(profile_text(urls, "2s"), expect_healthy=2)
        show("\n5 upstreams (2 healthy, refusing, hanging, HTTP 500), timeout 2s:", inproc, cli)
    finally:
        for server in mixed:
            server.stop()


if __name__ == "__main__":
    main()

"""Shared pieces of the benchmarks: timing statistics, running the CLI, bench profiles.

Every figure is the median of several runs, shown with min and max. CLI commands run as
subprocesses (``python -m provisioner.cli``) with a clean environment: no ``*_proxy`` variables
(the fakes are on 127.0.0.1) and no colour. Fakes run in the bench process, on loopback only.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLI = (sys.executable, "-m", "provisioner.cli")
UPSTREAMS = ("cf-worker", "daocloud", "dockerhub")  # 3 upstreams per cache, as issue 8 asks
# The passwords profiles/full.yaml reads from the environment (issue 8's values).
FULL_ENV = {"HK_PROXY_PASSWORD": "Hk-Proxy-Pass-1", "NEXUS_PASSWORD": "Nexus-Pass-1",
            "HARBOR_PASSWORD": "Harbor-Pass-1"}
NEXUS_PASSWORD = "Nexus-Pass-1"
HARBOR_PASSWORD = "Harbor-Pass-1"


@dataclass(frozen=True)
class Stats:
    """Median, min and max of repeated measurements (seconds, or counts)."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def seconds(self) -> str:
        """``0.412s (0.398-0.455)``; milliseconds below one second read better as ms."""
        if self.high < 1.0:
            return (f"{self.median * 1000:.0f} ms ({self.low * 1000:.0f}-"
                    f"{self.high * 1000:.0f})")
        return f"{self.median:.2f}s ({self.low:.2f}-{self.high:.2f})"

    def count(self) -> str:
        if self.low == self.high:
            return f"{self.median:.0f}"
        return f"{self.median:.0f} ({self.low:.0f}-{self.high:.0f})"


def env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: no proxies, no colour, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**base, "NO_COLOR": "1", **extra}


def run_cli(args: Sequence[str], *, ok: Sequence[int] = (0,), command: Sequence[str] = CLI,
            extra_env: dict[str, str] | None = None) -> float:
    """Run the CLI once; return its wall time. A failure stops the bench with its stderr."""
    started = time.perf_counter()
    result = subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT,
                            env=env(**(extra_env or {})), check=False)
    seconds = time.perf_counter() - started
    if result.returncode not in ok:
        raise SystemExit(f"{' '.join([*command, *args])} exited {result.returncode}:\n"
                         f"{result.stderr[-2000:]}")
    return seconds


def repeat(runs: int, once: Callable[[], float]) -> Stats:
    return Stats(tuple(once() for _ in range(runs)))


# -- profiles ---------------------------------------------------------------------------------
def _head(caches: int) -> list[str]:
    """Upstreams and caches; probing off (the upstreams are not reachable from here, and the
    probe has its own benchmark): the targets' requests are what is counted."""
    return [
        "version: 1",
        "probe: {enabled: false}",
        "upstreams:",
        "  cf-worker: {kind: cloudflare-worker, url: https://hub.example.xyz}",
        "  daocloud: {kind: mirror, url: https://docker.m.daocloud.io}",
        "  dockerhub: {kind: docker-hub}",
        "caches:",
        *(f"  c{i:03d}: {{upstreams: [{', '.join(UPSTREAMS)}]}}" for i in range(caches)),
        "targets:",
    ]


def registry_profile(output: Path, caches: int) -> str:
    listen = ", ".join(f"c{i:03d}: '127.0.0.1:{20000 + i}'" for i in range(caches))
    return "\n".join([*_head(caches), "  edge:", "    kind: registry",
                      f"    output: {output}", f"    listen: {{{listen}}}"]) + "\n"


def nexus_profile(url: str, caches: int) -> str:
    """A bootstrapped Nexus with anonymous pull (realms and anonymous access are read too)."""
    return "\n".join([*_head(caches), "  hq:", "    kind: nexus", f"    url: {url}",
                      "    username: admin", f"    password: {NEXUS_PASSWORD}",
                      "    anonymous_pull: true"]) + "\n"


def harbor_profile(url: str, caches: int) -> str:
    """A Harbor with a ``bootstrap:`` block, as profiles/full.yaml has (readiness is read)."""
    return "\n".join([*_head(caches), "  hq:", "    kind: harbor", f"    url: {url}",
                      "    username: admin", f"    password: {HARBOR_PASSWORD}",
                      "    public: true", "    bootstrap: {initial_password: Harbor12345}"]) + "\n"

"""The watch loop, one round at a time: transitions, re-apply on change, hooks, failing targets.

Runs :class:`provisioner.watch.Watcher` in-process against fake upstreams on 127.0.0.1 and a
Registry target writing to a temporary directory; the log goes to a list instead of stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from provisioner.backends.base import Options
from provisioner.profile import parse_profile
from provisioner.profile.model import Profile
from provisioner.watch import Watcher
from tests.fakes.probe_upstream import FakeUpstream

HOOK = """\
import json, os, sys
keys = ("PROVISIONER_TARGET", "PROVISIONER_CACHE", "PROVISIONER_CONFIG", "PROVISIONER_UPSTREAM",
        "PROVISIONER_UPSTREAM_URL")
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({k: os.environ.get(k) for k in keys}) + "\\n")
fail_marker = sys.argv[2] if len(sys.argv) > 2 else None
if fail_marker and os.path.exists(fail_marker):
    os.remove(fail_marker)
    sys.exit(3)
"""


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    a, b = FakeUpstream().start(), FakeUpstream().start()
    yield a, b
    a.stop()
    b.stop()


def _profile(tmp_path: Path, a: str, b: str, extra_target: str = "") -> Profile:
    return parse_profile(
        "version: 1\n"
        "upstreams:\n"
        f"  a: {{kind: registry, url: {a}}}\n"
        f"  b: {{kind: registry, url: {b}}}\n"
        "caches:\n"
        "  hub: {upstreams: [a, b]}\n"
        "targets:\n"
        f"  edge: {{kind: registry, output: {tmp_path / 'out'}, listen: 127.0.0.1:5999}}\n"
        + extra_target
        + "probe: {timeout: 1s}\n",
        "watch.yaml",
    )


def _watcher(profile: Profile, tmp_path: Path,
             fail_once: bool = False) -> tuple[Watcher, list[str]]:
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    command = f"{sys.executable} {script} {tmp_path / 'hook.jsonl'}"
    if fail_once:
        (tmp_path / "fail-once").write_text("")
        command += f" {tmp_path / 'fail-once'}"
    lines: list[str] = []
    return Watcher(profile, Options(), on_change=command, log=lines.append), lines


def _hook_calls(tmp_path: Path) -> list[dict[str, str]]:
    path = tmp_path / "hook.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _remote(tmp_path: Path) -> str:
    config = yaml.safe_load((tmp_path / "out" / "hub" / "config.yml").read_text())
    return str(config["proxy"]["remoteurl"])


def test_rounds_follow_health(tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]) -> None:
    a, b = upstreams
    watcher, log = _watcher(_profile(tmp_path, a.url, b.url), tmp_path)

    watcher.tick()  # fresh target: files created, hook run once for the cache
    assert _remote(tmp_path) == a.url
    config = str(tmp_path / "out" / "hub" / "config.yml")
    assert _hook_calls(tmp_path) == [{
        "PROVISIONER_TARGET": "edge", "PROVISIONER_CACHE": "hub", "PROVISIONER_CONFIG": config,
        "PROVISIONER_UPSTREAM": "a", "PROVISIONER_UPSTREAM_URL": a.url}]
    assert any("cache hub: using a (a is the first listed upstream" in line for line in log)

    log.clear()
    watcher.tick()  # nothing changed: nothing applied, no hook, nothing logged
    assert log == [] and len(_hook_calls(tmp_path)) == 1

    a.stop()
    watcher.tick()
    assert _remote(tmp_path) == b.url
    assert _hook_calls(tmp_path)[-1]["PROVISIONER_UPSTREAM"] == "b"
    assert "upstream a went down: connection refused" in log
    assert "cache hub: a -> b (a down: connection refused; switching to b)" in log
    assert any(line.startswith("target edge: applying 1 change(s): registry.edge.hub/config.yml")
               for line in log)

    log.clear()
    port_b = b.port
    b.stop()
    watcher.tick()  # every upstream down: nothing changes, no restart onto a dead upstream
    assert _remote(tmp_path) == f"http://127.0.0.1:{port_b}"
    assert len(_hook_calls(tmp_path)) == 2
    assert any(line.startswith("cache hub: stranded, targets keep their upstream (no healthy")
               for line in log)
    assert not any("applying" in line for line in log)

    log.clear()
    b.start(port_b)
    watcher.tick()
    assert "upstream b is back" in " ".join(log)
    assert any(line.startswith("cache hub: recovered, using b") for line in log)
    assert len(_hook_calls(tmp_path)) == 2, "config already pointed at b: no rewrite, no hook"


def test_failed_hook_runs_again_next_round(tmp_path: Path,
                                           upstreams: tuple[FakeUpstream, FakeUpstream]) -> None:
    a, b = upstreams
    watcher, log = _watcher(_profile(tmp_path, a.url, b.url), tmp_path, fail_once=True)
    watcher.tick()
    assert any("on-change for cache hub failed (exit 3" in line for line in log)
    watcher.tick()  # nothing to apply, but the failed hook is retried
    assert len(_hook_calls(tmp_path)) == 2
    assert any("on-change for cache hub done" in line for line in log)
    watcher.tick()
    assert len(_hook_calls(tmp_path)) == 2, "a hook that succeeded is not run again"


def test_failing_target_does_not_stop_the_others(
    tmp_path: Path, upstreams: tuple[FakeUpstream, FakeUpstream]
) -> None:
    a, b = upstreams
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be\n")
    broken = (f"  broken: {{kind: registry, output: {blocker / 'out'}, "
              "listen: 127.0.0.1:5998, caches: [hub]}\n")
    watcher, log = _watcher(_profile(tmp_path, a.url, b.url, broken), tmp_path)
    watcher.tick()
    watcher.tick()
    assert sum(line.startswith("target broken: failed: ") for line in log) == 2
    assert _remote(tmp_path) == a.url, "the healthy target converged anyway"
    assert watcher.rounds == 2


def test_run_once_returns_zero(tmp_path: Path,
                               upstreams: tuple[FakeUpstream, FakeUpstream]) -> None:
    a, b = upstreams
    watcher, log = _watcher(_profile(tmp_path, a.url, b.url), tmp_path)
    assert watcher.run(interval=60, once=True) == 0
    assert log[0].startswith("watching every 60s (probing upstreams)")
    assert log[-1] == "watch stopped after 1 round(s)"

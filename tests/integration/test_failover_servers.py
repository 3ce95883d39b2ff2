"""Failover on the server targets, in-process: Harbor (endpoint URL swap) and Nexus (group order).

The CLI runs as a subprocess, with probing on, against loopback fakes: two registry upstreams
(:class:`tests.fakes.probe_upstream.FakeUpstream`, a token flow; the secondary needs
credentials), the fake Harbor and the fake Nexus. An upstream "dies" by closing its socket, and
the fake Harbor is told so too (``mark_down``), because Harbor pings upstreams itself and refuses
an endpoint it cannot reach. Assertions are on the fakes' state and request logs (what was
written), never on wall time; waits poll the fakes' logs with a generous deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import cli_command, subprocess_env
from tests.fakes.harbor import FakeHarbor
from tests.fakes.nexus import NexusFake
from tests.fakes.probe_upstream import FakeUpstream

HARBOR_PASSWORD = "Adm1nPassw0rd"
NEXUS_PASSWORD = "admin-pass"
PULL_PASSWORD = "Pull2Secret"
GROUP_PUT = "PUT /service/rest/v1/repositories/docker/group/hub"
REFUSED = "primary down: connection refused"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=120,
                          env=subprocess_env(NO_COLOR="1"), stdin=subprocess.DEVNULL, check=False)


def wait_for(predicate: Callable[[], bool], what: str, proc: subprocess.Popen[str] | None = None,
             deadline: float = 30.0) -> None:
    """Poll ``predicate`` (a generous deadline only guards against a hang; nothing is timed)."""
    end = time.monotonic() + deadline
    while not predicate():
        if proc is not None:
            assert proc.poll() is None, f"watch exited ({proc.returncode}) waiting for {what}"
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.05)


@dataclass
class Scene:
    """Two upstreams, and the server fakes that must hear about their deaths."""

    tmp: Path
    primary: FakeUpstream
    secondary: FakeUpstream
    harbor: FakeHarbor
    nexus: NexusFake
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ports = {"primary": self.primary.port, "secondary": self.secondary.port}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def kill(self, name: str) -> None:
        """Close the upstream's socket; Harbor's own ping of it fails from now on."""
        getattr(self, name).stop()
        self.harbor.mark_down(self.url(name))

    def revive(self, name: str) -> None:
        """Serve the upstream again on the same port (Harbor's view first, so no round sees a
        probe-healthy upstream that Harbor still refuses)."""
        self.harbor.mark_up(self.url(name))
        getattr(self, name).start(self.ports[name])

    def profile(self, select: str = "first-healthy", *, harbor: bool = False,
                nexus: bool = False, registry: bool = False) -> Path:
        lines = ["version: 1", "probe: {timeout: 2s}", "upstreams:",
                 f"  primary: {{kind: registry, url: '{self.url('primary')}'}}",
                 f"  secondary: {{kind: registry, url: '{self.url('secondary')}', "
                 f"username: puller, password: {PULL_PASSWORD}}}",
                 "caches:", f"  hub: {{upstreams: [primary, secondary], select: {select}}}",
                 "targets:"]
        if harbor:
                lines.append(f"  hb: {{kind: harbor, url: '{self.harbor.url}', username: admin, "
                         f"password: {HARBOR_PASSWORD}, public: true}}")
        if nexus:
            lines.append(f"  nx: {{kind: nexus, url: '{self.nexus.url}', username: admin, "
                         f"password: {NEXUS_PASSWORD}}}")
        if registry:
            lines.append(f"  edge: {{kind: registry, output: '{self.tmp / 'out'}', "
                         "listen: '127.0.0.1:5999'}")
        path = self.tmp / "profile.yaml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    # -- what the fakes hold ---------------------------------------------------------------------
    def endpoint(self) -> dict[str, Any]:
        found = [r for r in self.harbor.registries.values() if r["name"] == "provisioner-hub"]
        assert len(found) == 1, self.harbor.registries
        return found[0]

    def project(self) -> dict[str, Any]:
        return self.harbor.projects["hub"]

    def harbor_writes(self) -> list[str]:
        """Harbor requests that change state (``POST /registries/ping`` only reads)."""
        return [f"{r.method} {r.path}" for r in self.harbor.writes()
                if r.path != "/api/v2.0/registries/ping"]

    def members(self) -> list[str]:
        return list(self.nexus.repos["hub"].body["group"]["memberNames"])

    def nexus_writes(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.nexus.writes()]

    def reset_logs(self) -> None:
        self.harbor.reset_log()
        self.nexus.reset_log()

    def remoteurl(self) -> str:
        config = yaml.safe_load((self.tmp / "out" / "hub" / "config.yml").read_text())
        return str(config["proxy"]["remoteurl"])


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    primary = FakeUpstream()
    secondary = FakeUpstream(username="puller", password=PULL_PASSWORD)
    harbor = FakeHarbor(admin_password=HARBOR_PASSWORD, login_lock_seconds=0.2)
    nexus = NexusFake(bootstrapped=True, admin_password=NEXUS_PASSWORD)
    for server in (primary, secondary, harbor, nexus):
        server.start()
    try:
        yield Scene(tmp_path, primary, secondary, harbor, nexus)
        assert harbor.spec_violations == []
        assert harbor.server_errors == []
        assert nexus.spec_violations == []
        assert nexus.unknown_fields == []
    finally:
        for server in (primary, secondary, harbor, nexus):
            server.stop()


def start_watch(profile: Path, log: Path) -> subprocess.Popen[str]:
    with open(log, "w") as stderr:
        return subprocess.Popen(cli_command("watch", str(profile), "--interval", "200ms"),
                                stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                                stdin=subprocess.DEVNULL, env=subprocess_env(NO_COLOR="1"))


def stop_watch(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def rounds_seen(fake: FakeHarbor | NexusFake) -> int:
    """Plans read so far: Harbor checks credentials, Nexus lists its repositories, once each."""
    path = ("/api/v2.0/users/current" if isinstance(fake, FakeHarbor)
            else "/service/rest/v1/repositorySettings")
    with fake.lock:
        return sum(1 for r in fake.requests if r.method == "GET" and r.path == path)


# -- Harbor: failover is a URL swap of the one endpoint ----------------------------------------
def test_harbor_apply_swaps_the_endpoint_url_and_back(scene: Scene) -> None:
    profile = scene.profile(harbor=True)
    created = run("apply", "-y", str(profile))
    assert created.returncode == 0, created.stdout + created.stderr
    assert scene.harbor_writes() == ["POST /api/v2.0/registries", "POST /api/v2.0/projects"]
    endpoint_id, project = scene.endpoint()["id"], scene.project()
    project_id = project["project_id"]
    assert scene.endpoint()["url"] == scene.url("primary")
    assert project["registry_id"] == endpoint_id

    # The primary dies: one PUT moves the endpoint onto the secondary, project untouched.
    scene.kill("primary")
    scene.reset_logs()
    moved = run("apply", "-y", str(profile))
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "Warning: upstream primary is down: connection refused" in moved.stdout
    assert (f"~ harbor.hb.endpoint.hub will be updated in place ({REFUSED}; switching to "
            "secondary)") in moved.stdout
    assert scene.harbor_writes() == [f"PUT /api/v2.0/registries/{endpoint_id}"]
    endpoint = scene.endpoint()
    assert (endpoint["id"], endpoint["url"]) == (endpoint_id, scene.url("secondary"))
    # Harbor drops the stored secret on a URL change: the swap must have resent it.
    assert endpoint["credential"] == {"type": "basic", "access_key": "puller",
                                      "access_secret": PULL_PASSWORD}
    assert scene.project()["project_id"] == project_id
    assert scene.project()["registry_id"] == endpoint_id
    assert PULL_PASSWORD not in moved.stdout + moved.stderr

    settled = run("diff", str(profile), "--detailed-exitcode")
    assert settled.returncode == 0, settled.stdout + settled.stderr

    # Every upstream down: nothing is written (never onto a dead upstream), and the output says
    # why (exit 0).
    scene.kill("secondary")
    scene.reset_logs()
    stranded = run("apply", "-y", str(profile))
    assert stranded.returncode == 0, stranded.stdout + stranded.stderr
    assert "No changes." in stranded.stdout
    assert "Warning: upstream secondary is down: connection refused" in stranded.stdout
    assert ("Warning: cache hub: every upstream is down; targets keep the upstream they have"
            in stranded.stdout)
    assert (f"Warning: [hb] cache hub: no healthy upstream; keeping endpoint provisioner-hub at "
            f"{scene.url('secondary')}") in stranded.stdout
    assert scene.harbor_writes() == []
    assert scene.endpoint()["url"] == scene.url("secondary")

    # The primary is back: first-healthy swaps back, again in place.
    scene.revive("primary")
    scene.reset_logs()
    back = run("apply", "-y", str(profile))
    assert back.returncode == 0, back.stdout + back.stderr
    assert ("~ harbor.hb.endpoint.hub will be updated in place (primary is the first listed "
            "upstream and healthy") in back.stdout
    assert scene.harbor_writes() == [f"PUT /api/v2.0/registries/{endpoint_id}"]
    assert (scene.endpoint()["id"], scene.endpoint()["url"]) == (endpoint_id, scene.url("primary"))
    assert scene.endpoint()["credential"] == {}  # the primary has no credentials
    assert scene.project()["project_id"] == project_id
    assert scene.project()["registry_id"] == endpoint_id


def test_harbor_watch_swaps_the_endpoint_url(scene: Scene) -> None:
    profile = scene.profile(harbor=True)
    assert run("apply", "-y", str(profile)).returncode == 0
    endpoint_id, project_id = scene.endpoint()["id"], scene.project()["project_id"]

    scene.kill("primary")
    scene.reset_logs()
    once = run("watch", str(profile), "--once")
    assert once.returncode == 0, once.stderr
    assert f"cache hub: using secondary ({REFUSED}; switching to secondary)" in once.stderr
    assert "target hb: applying 1 change(s): harbor.hb.endpoint.hub" in once.stderr
    assert "target hb: converged" in once.stderr
    assert scene.harbor_writes() == [f"PUT /api/v2.0/registries/{endpoint_id}"]
    assert scene.endpoint()["url"] == scene.url("secondary")

    # A long-running watch: the secondary dies too (stranded: nothing written), then the
    # primary comes back and the endpoint swaps back to it.
    scene.reset_logs()
    log = scene.tmp / "watch.log"
    proc = start_watch(profile, log)
    try:
        wait_for(lambda: rounds_seen(scene.harbor) >= 2, "two quiet rounds", proc)
        assert scene.harbor_writes() == []
        scene.kill("secondary")
        wait_for(lambda: "keeping endpoint provisioner-hub" in log.read_text(), "stranding", proc)
        seen = rounds_seen(scene.harbor)
        wait_for(lambda: rounds_seen(scene.harbor) >= seen + 2, "two stranded rounds", proc)
        assert scene.harbor_writes() == []
        scene.revive("primary")
        wait_for(lambda: scene.endpoint()["url"] == scene.url("primary"), "the swap back", proc)
        assert stop_watch(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "cache hub: stranded, targets keep their upstream (no healthy upstream" in text, text
    assert (f"target hb: cache hub: no healthy upstream; keeping endpoint provisioner-hub at "
            f"{scene.url('secondary')}") in text, text
    assert "upstream primary is back" in text, text
    assert "cache hub: recovered, using primary (primary is the first listed upstream" in text, text
    assert scene.harbor_writes() == [f"PUT /api/v2.0/registries/{endpoint_id}"]  # the swap back
    assert scene.endpoint()["url"] == scene.url("primary")
    assert scene.project()["project_id"] == project_id
    assert "SIGTERM received; finished the round in progress" in text


# -- Nexus: the group is the failover ------------------------------------------------------------
def test_nexus_first_healthy_keeps_the_group_whatever_the_health(scene: Scene) -> None:
    profile = scene.profile(nexus=True)
    created = run("apply", "-y", str(profile))
    assert created.returncode == 0, created.stdout + created.stderr
    assert scene.members() == ["hub-primary", "hub-secondary"]

    scene.kill("primary")
    scene.reset_logs()
    applied = run("apply", "-y", str(profile))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Warning: upstream primary is down: connection refused" in applied.stdout
    assert "No changes." in applied.stdout
    once = run("watch", str(profile), "--once")
    assert once.returncode == 0, once.stderr
    assert "applying" not in once.stderr
    scene.kill("secondary")
    assert run("apply", "-y", str(profile)).returncode == 0
    scene.revive("primary")
    scene.revive("secondary")
    assert run("apply", "-y", str(profile)).returncode == 0
    assert scene.nexus_writes() == []
    assert scene.members() == ["hub-primary", "hub-secondary"]


def test_nexus_fastest_orders_the_group_by_latency(scene: Scene) -> None:
    scene.secondary.latency = 0.1  # three probe requests: ~0.3 s against ~0 s
    profile = scene.profile("fastest", nexus=True)
    assert run("apply", "-y", str(profile)).returncode == 0
    assert scene.members() == ["hub-primary", "hub-secondary"]

    scene.primary.latency, scene.secondary.latency = 0.1, 0.0
    scene.reset_logs()
    reordered = run("apply", "-y", str(profile))
    assert reordered.returncode == 0, reordered.stdout + reordered.stderr
    assert ("~ nexus.nx.repository.hub will be updated in place (secondary is the fastest healthy "
            "upstream") in reordered.stdout
    assert ('~ group.memberNames: ["hub-primary", "hub-secondary"] -> '
            '["hub-secondary", "hub-primary"]') in reordered.stdout
    assert scene.nexus_writes() == [GROUP_PUT]
    assert scene.members() == ["hub-secondary", "hub-primary"]


def test_nexus_fastest_jitter_within_hysteresis_writes_nothing_in_watch(scene: Scene) -> None:
    scene.primary.latency = 0.1
    profile = scene.profile("fastest", nexus=True)
    assert run("apply", "-y", str(profile)).returncode == 0
    assert scene.members() == ["hub-secondary", "hub-primary"]

    scene.reset_logs()
    log = scene.tmp / "watch.log"
    proc = start_watch(profile, log)
    try:
        wait_for(lambda: rounds_seen(scene.nexus) >= 1, "the first round", proc)
        # The primary becomes a little faster than the secondary, well within 1.5x + 50 ms.
        scene.primary.latency, scene.secondary.latency = 0.0, 0.005
        seen = rounds_seen(scene.nexus)
        wait_for(lambda: rounds_seen(scene.nexus) >= seen + 3, "three jittery rounds", proc)
        assert scene.nexus_writes() == []
        # Without the watch's memory (a one-shot plan), the same latencies would reorder: the
        # quiet rounds above are the hysteresis at work, not a tie.
        fresh = run("diff", str(profile), "--detailed-exitcode")
        assert fresh.returncode == 2, fresh.stdout + fresh.stderr
        assert "(primary is the fastest healthy upstream" in fresh.stdout
        # Far beyond the slack: the watch reorders, with one group PUT.
        scene.secondary.latency = 0.15
        wait_for(lambda: scene.members() == ["hub-primary", "hub-secondary"], "the reorder", proc)
        assert stop_watch(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "cache hub: secondary -> primary (primary is the fastest healthy upstream" in text, text
    assert scene.nexus_writes() == [GROUP_PUT]


# -- every kind in one profile -------------------------------------------------------------------
def test_registry_harbor_and_nexus_follow_one_selection(scene: Scene) -> None:
    scene.secondary.latency = 0.05
    profile = scene.profile("fastest", harbor=True, nexus=True, registry=True)
    created = run("apply", "-y", str(profile))
    assert created.returncode == 0, created.stdout + created.stderr
    assert scene.remoteurl() == scene.url("primary")
    assert scene.endpoint()["url"] == scene.url("primary")
    assert scene.members() == ["hub-primary", "hub-secondary"]
    endpoint_id = scene.endpoint()["id"]

    scene.kill("primary")
    scene.reset_logs()
    planned = run("diff", str(profile), "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert {"target": None, "level": "warning",
            "message": "upstream primary is down: connection refused"} in plan["notes"]
    infos = [n["message"] for n in plan["notes"] if n["level"] == "info"]
    assert any(m.startswith(f"cache hub: {REFUSED}; secondary is the fastest healthy upstream")
               for m in infos), plan["notes"]
    reasons = {c["address"]: c.get("reason", "") for c in plan["resource_changes"]
               if c["change"]["actions"] != ["no-op"]}
    for address in ("harbor.hb.endpoint.hub", "nexus.nx.repository.hub",
                    "registry.edge.hub/config.yml"):
        assert reasons.get(address, "").startswith(
            f"{REFUSED}; secondary is the fastest healthy upstream"), reasons
    assert scene.harbor_writes() == [] and scene.nexus_writes() == []

    applied = run("apply", "-y", str(profile))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert scene.remoteurl() == scene.url("secondary")
    assert (scene.endpoint()["id"], scene.endpoint()["url"]) == (endpoint_id,
                                                                 scene.url("secondary"))
    assert scene.members() == ["hub-secondary", "hub-primary"]
    assert scene.harbor_writes() == [f"PUT /api/v2.0/registries/{endpoint_id}"]
    assert scene.nexus_writes() == [GROUP_PUT]
    again = run("diff", str(profile), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr

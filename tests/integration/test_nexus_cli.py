"""The Nexus target through the CLI (a subprocess), against the fake Nexus or a real one.

Every test runs against the stateful fake (``tests/fakes/nexus.py``). When ``NEXUS_URL``,
``NEXUS_USERNAME`` and ``NEXUS_PASSWORD`` are set, the same tests also run against that real
Nexus (a throwaway instance: ``compose/nexus``), with repository names prefixed ``it<random>-``
and deleted afterwards; the tests change its realms (DockerToken appended) and turn anonymous
access on. Tests that need the fake's request log, fault injection or a fresh instance say so
and are skipped against a real server.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from provisioner.backends.nexus.client import NexusClient
from tests.conftest import cli_command, subprocess_env
from tests.fakes.base import Fault
from tests.fakes.nexus import NexusFake
from tests.fakes.nexus_repos import docker_proxy_body, maven_hosted_body

REAL = all(os.environ.get(v) for v in ("NEXUS_URL", "NEXUS_USERNAME", "NEXUS_PASSWORD"))
REAL_SKIP = "NEXUS_URL, NEXUS_USERNAME and NEXUS_PASSWORD are not set: no real Nexus to test"
HUB = ["cf-worker", "hk-nginx", "daocloud", "dockerhub"]
UPSTREAMS = """\
  cf-worker: {kind: cloudflare-worker, url: https://hub.example.xyz}
  hk-nginx:
    kind: nginx-proxy
    url: https://mirror.example.com
    username: puller
    password: ${HK_PROXY_PASSWORD}
  daocloud: {kind: mirror, url: https://docker.m.daocloud.io}
  dockerhub: {kind: docker-hub}
  ghcr-direct: {kind: registry, url: https://ghcr.io}
"""


@dataclass
class Nexus:
    """One server under test: the fake (``fake`` set) or a real Nexus."""

    url: str
    username: str
    password: str
    fake: NexusFake | None
    prefix: str = ""
    created: list[str] = field(default_factory=list)

    @property
    def rest(self) -> NexusClient:
        return NexusClient(self.url, auth=(self.username, self.password), timeout=30)

    def need_fake(self, why: str) -> NexusFake:
        if self.fake is None:
            pytest.skip(f"needs the fake Nexus: {why}")
        return self.fake

    def repos(self) -> dict[str, dict[str, Any]]:
        settings = self.rest.repository_settings() or []
        return {r["name"]: r for r in settings}

    def members(self, group: str) -> list[str]:
        return list(self.repos()[group]["group"]["memberNames"])

    def writes(self) -> int | None:
        return None if self.fake is None else self.fake.write_count()

    def plant(self, fmt: str, rtype: str, body: dict[str, Any]) -> None:
        """Create a repository the profile does not own, through the REST API."""
        self.rest.request("POST", f"/v1/repositories/{fmt}/{rtype}", json=body)
        self.created.append(body["name"])


@pytest.fixture(params=["fake", "real"])
def nexus(request: pytest.FixtureRequest) -> Iterator[Nexus]:
    if request.param == "real":
        if not REAL:
            pytest.skip(REAL_SKIP)
        server = Nexus(
            os.environ["NEXUS_URL"],
            os.environ["NEXUS_USERNAME"],
            os.environ["NEXUS_PASSWORD"],
            None,
            prefix=f"it{uuid.uuid4().hex[:6]}-",
        )
        yield server
        rest = server.rest
        for name in server.repos():
            if name.startswith(server.prefix):
                rest.delete_repository(name)
        return
    fake = NexusFake(bootstrapped=True, admin_password="admin-pass")
    fake.start()
    try:
        yield Nexus(fake.url, "admin", "admin-pass", fake)
        assert fake.spec_violations == []
        assert fake.unknown_fields == []  # nothing sent that Nexus would silently ignore
    finally:
        fake.stop()


def write_profile(
    path: Path,
    server: Nexus,
    hub: list[str] | None = None,
    *,
    target: str = "",
    password: str | None = None,
) -> Path:
    """A profile with caches ``<prefix>hub`` (upstreams ``hub``, in order) and ``<prefix>ghcr``."""
    p = server.prefix
    text = textwrap.dedent(f"""\
        # yaml-language-server: $schema=../provisioner.schema.json
        version: 1
        probe: {{enabled: false}}
        upstreams:
        {{upstreams}}
        caches:
          {p}hub:
            upstreams: [{", ".join(hub or HUB)}]
          {p}ghcr:
            mirrors: ghcr.io
            upstreams: [ghcr-direct]
        targets:
          hq:
            kind: nexus
            url: {server.url}
            username: {server.username}
            password: {password or server.password}
            anonymous_pull: true
        """).replace("{upstreams}\n", UPSTREAMS)
    path.write_text(text + textwrap.indent(textwrap.dedent(target), "    "), encoding="utf-8")
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    variables = {"NO_COLOR": "1", "HK_PROXY_PASSWORD": "hk-secret-pass", **(env or {})}
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(**variables),
    )


def one_error_line(result: subprocess.CompletedProcess[str], progress: bool = False) -> str:
    """The one ``Error:`` line of a failed run; ``progress`` allows apply's progress lines."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    if progress:
        assert all(line.endswith("s)") for line in lines[:-1]), result.stderr
        lines = lines[-1:]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.stderr
    return lines[0]


def json_plan(profile: Path, *extra: str) -> list[dict[str, Any]]:
    result = cli("diff", str(profile), "--json", *extra)
    assert result.returncode == 0, result.stderr
    changes = json.loads(result.stdout)["resource_changes"]
    return [c for c in changes if c["change"]["actions"] != ["no-op"]]


def test_apply_converges_and_a_second_apply_writes_nothing(nexus: Nexus, tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "p.yaml", nexus)
    assert cli("apply", str(profile), "-y").returncode == 0
    p = nexus.prefix
    repos = nexus.repos()
    assert nexus.members(f"{p}hub") == [f"{p}hub-{u}" for u in HUB]
    assert repos[f"{p}hub-dockerhub"]["dockerProxy"]["indexType"] == "HUB"
    assert repos[f"{p}hub-hk-nginx"]["httpClient"]["authentication"]["username"] == "puller"
    assert repos[f"{p}hub"]["docker"]["forceBasicAuth"] is False
    realms = nexus.rest.active_realms()
    assert "DockerToken" in realms and "NexusAuthenticatingRealm" in realms
    assert nexus.rest.anonymous()["enabled"] is True

    assert cli("diff", str(profile), "--detailed-exitcode").returncode == 0
    before = nexus.writes()
    again = cli("apply", str(profile), "-y")
    assert again.returncode == 0 and "No changes" in again.stdout
    assert nexus.writes() == before


def test_reordering_upstreams_changes_only_the_group(nexus: Nexus, tmp_path: Path) -> None:
    assert cli("apply", str(write_profile(tmp_path / "p.yaml", nexus)), "-y").returncode == 0
    order = ["daocloud", "dockerhub", "cf-worker", "hk-nginx"]
    profile = write_profile(tmp_path / "p.yaml", nexus, order)
    plan = json_plan(profile)
    assert [(c["address"], c["change"]["actions"]) for c in plan] == [
        (f"nexus.hq.repository.{nexus.prefix}hub", ["update"])
    ]
    before = nexus.writes()
    assert cli("apply", str(profile), "-y").returncode == 0
    assert nexus.members(f"{nexus.prefix}hub") == [f"{nexus.prefix}hub-{u}" for u in order]
    if before is not None:
        assert nexus.writes() == before + 1


def test_removed_upstream_is_pruned_alone(nexus: Nexus, tmp_path: Path) -> None:
    p = nexus.prefix
    nexus.plant("docker", "proxy", docker_proxy_body(f"{p}mine", "https://mine.example"))
    nexus.plant("docker", "proxy", docker_proxy_body(f"{p}hub-old", "https://old.example"))
    assert cli("apply", str(write_profile(tmp_path / "p.yaml", nexus)), "-y").returncode == 0
    profile = write_profile(tmp_path / "p.yaml", nexus, ["cf-worker", "hk-nginx", "dockerhub"])

    plan = json_plan(profile)
    assert [(c["address"], c["change"]["actions"]) for c in plan] == [
        (f"nexus.hq.repository.{p}hub", ["update"])
    ]
    assert cli("apply", str(profile), "-y").returncode == 0
    assert f"{p}hub-daocloud" in nexus.repos()  # no --prune: kept, and named in a note

    before = set(nexus.repos())
    pruned = cli("apply", str(profile), "-y", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert before - set(nexus.repos()) == {f"{p}hub-daocloud"}
    assert nexus.members(f"{p}hub") == [
        f"{p}hub-cf-worker",
        f"{p}hub-hk-nginx",
        f"{p}hub-dockerhub",
    ]
    assert cli("diff", str(profile), "--prune", "--detailed-exitcode").returncode == 0


def test_changed_upstream_password_updates_one_proxy_masked(nexus: Nexus, tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "p.yaml", nexus)
    assert cli("apply", str(profile), "-y").returncode == 0
    env = {"HK_PROXY_PASSWORD": "rotated-pass-2"}
    shown = cli("diff", str(profile), env=env)
    assert "rotated-pass-2" not in shown.stdout and "hk-secret-pass" not in shown.stdout
    assert "httpClient.authentication.password: (sensitive)" in shown.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in shown.stdout
    assert cli("apply", str(profile), "-y", env=env).returncode == 0
    assert cli("diff", str(profile), "--detailed-exitcode", env=env).returncode == 0
    if nexus.fake is not None:
        stored = nexus.fake.repos[f"{nexus.prefix}hub-hk-nginx"].body
        assert stored["httpClient"]["authentication"]["password"] == "rotated-pass-2"


def test_wrong_credentials_one_line(nexus: Nexus, tmp_path: Path) -> None:
    profile = write_profile(tmp_path / "p.yaml", nexus, password="not-the-password")
    before = nexus.writes()
    line = one_error_line(cli("apply", str(profile), "-y"))
    assert "401" in line and "check the username and password of nexus target 'hq'" in line
    assert "not-the-password" not in line
    assert nexus.writes() == before


def test_name_taken_by_a_maven_repository_one_line(nexus: Nexus, tmp_path: Path) -> None:
    nexus.plant("maven", "hosted", maven_hosted_body(f"{nexus.prefix}hub"))
    before = nexus.writes()
    line = one_error_line(cli("apply", str(write_profile(tmp_path / "p.yaml", nexus)), "-y"))
    assert f"repository '{nexus.prefix}hub' already exists as a maven2 hosted repository" in line
    assert nexus.writes() == before
    assert "maven" in nexus.repos()[f"{nexus.prefix}hub"]["format"]


def test_html_error_page_one_line(nexus: Nexus, tmp_path: Path) -> None:
    fake = nexus.need_fake("it injects an HTML 502 page")
    fake.inject(Fault("502-html", path_prefix="/service/rest/v1/repositorySettings", times=10))
    line = one_error_line(cli("apply", str(write_profile(tmp_path / "p.yaml", nexus)), "-y"))
    assert "GET " in line and "/v1/repositorySettings -> 502" in line
    assert "an HTML page (502 bad gateway) instead of an API answer" in line
    assert fake.write_count() == 0


def test_failure_half_way_then_the_next_apply_converges(nexus: Nexus, tmp_path: Path) -> None:
    fake = nexus.need_fake("it injects a 500 on one create")
    fake.inject(
        Fault("500", method="POST", path_prefix="/service/rest/v1/repositories/docker/group")
    )
    profile = write_profile(tmp_path / "p.yaml", nexus)
    line = one_error_line(cli("apply", str(profile), "-y"), progress=True)
    assert "/v1/repositories/docker/group -> 500" in line and "run apply again" in line
    assert cli("apply", str(profile), "-y").returncode == 0
    assert cli("diff", str(profile), "--detailed-exitcode").returncode == 0


def test_transient_429_and_reset_on_reads_are_retried(nexus: Nexus, tmp_path: Path) -> None:
    fake = nexus.need_fake("it injects transient faults")
    fake.inject(Fault("429", method="GET", path_prefix="/service/rest/v1/repositorySettings"))
    fake.inject(Fault("reset", method="GET", path_prefix="/service/rest/v1/security/anonymous"))
    assert cli("apply", str(write_profile(tmp_path / "p.yaml", nexus)), "-y").returncode == 0

"""Ownership (issue 7.5): ``--prune`` is the only way anything is deleted, and it deletes only
resources carrying this tool's marker for this target.

A converged world gets look-alikes planted next to the tool's own resources (same name
prefixes, a marker-like text, another target's marker); then the profile drops a cache. Without
``--prune`` nothing is deleted, whatever else is asked; with it exactly the dropped cache's
marked resources go, and everything else is byte-for-byte as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.nexus_repos import docker_group_body, docker_proxy_body
from tests.reliability.lab import Lab, harbor_state, lab, nexus_state

DROPPED = {  # what dropping cache ghcr must delete with --prune, and nothing else
    "nexus.hq-nexus.repository.ghcr", "nexus.hq-nexus.repository.ghcr-ghcr-direct",
    "harbor.hq-harbor.project.ghcr", "harbor.hq-harbor.endpoint.ghcr",
}


def _plant_lookalikes(world: Lab) -> None:
    nexus, harbor = world.nexus, world.harbor
    nexus.add_repository(docker_proxy_body("ghcr-mirror", "https://ghcr.io"))  # the prefix
    nexus.add_repository(docker_group_body("dockerhub-extra", ["foreign-docker"]), type="group")
    fake_marker = docker_proxy_body("ghcr-handmade", "https://ghcr.io")
    fake_marker["httpClient"] = {"blocked": False, "autoBlock": True,
                                 "connection": {"userAgentSuffix": "provisioners cache=ghcr"}}
    nexus.add_repository(fake_marker)
    rid = harbor.add_registry("provisioner-ghcr-old", "https://ghcr.io")  # the name prefix
    harbor.add_project("ghcr-old", registry_id=rid)
    rid = harbor.add_registry(
        "provisioner-ghcr-other", "https://ghcr.io",
        description="[provisioner:target=other-harbor,cache=ghcr,secret=none]")  # another target
    harbor.add_project("ghcr-other", registry_id=rid)
    (world.out / "clients" / "notes.txt").write_text("the team's own notes\n")


def _drop_ghcr(world: Lab) -> Path:
    text = world.profile.read_text()
    text = text.replace("  ghcr:\n    mirrors: ghcr.io\n    upstreams: [ghcr-direct]\n", "")
    path = world.root / "dropped.yaml"
    path.write_text(text)
    return path


def _deletes(world: Lab) -> list[str]:
    return [f"{r.method} {r.path}" for fake in (world.nexus, world.harbor)
            for r in fake.requests if r.method == "DELETE"]


def _everything(world: Lab) -> dict[str, Any]:
    return {"nexus": nexus_state(world.nexus)["repos"], "harbor": harbor_state(world.harbor),
            "files": sorted(str(p.relative_to(world.out)) for p in world.out.rglob("*"))}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with lab(tmp_path_factory.mktemp("ownership")) as the_lab:
        assert the_lab.apply().returncode == 0
        _plant_lookalikes(the_lab)
        yield the_lab


def test_nothing_is_deleted_without_prune(world: Lab) -> None:
    dropped = str(_drop_ghcr(world))
    before = _everything(world)
    for fake in (world.nexus, world.harbor):
        fake.reset_log()
    for args in (("apply", dropped, "-y"), ("apply", dropped, "-y", "--replace"),
                 ("diff", dropped), ("apply", dropped, "-y", "--target", "hq-nexus"),
                 ("watch", dropped, "--once")):
        run = world.cli(*args)
        assert run.returncode == 0, (args, run.stderr)
    assert _deletes(world) == []
    after = _everything(world)
    assert after["nexus"] == before["nexus"]
    assert after["harbor"]["registries"] == before["harbor"]["registries"]
    assert after["harbor"]["projects"] == before["harbor"]["projects"]
    shown = world.cli("apply", dropped, "-y")
    assert "--prune" in shown.stdout + shown.stderr  # the user is told what --prune would do


def test_prune_deletes_exactly_the_marked_resources_of_this_target(world: Lab) -> None:
    dropped = str(_drop_ghcr(world))
    plan = world.cli("diff", dropped, "--prune", "--json")
    assert plan.returncode == 0, plan.stderr
    deletes = {c["address"] for c in json.loads(plan.stdout)["resource_changes"]
               if c["change"]["actions"] == ["delete"]}
    assert deletes == DROPPED

    before = _everything(world)
    for fake in (world.nexus, world.harbor):
        fake.reset_log()
    pruned = world.cli("apply", dropped, "-y", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert len(_deletes(world)) == len(DROPPED)
    after = _everything(world)
    gone_nexus = set(before["nexus"]) - set(after["nexus"])
    assert gone_nexus == {"ghcr", "ghcr-ghcr-direct"}
    assert {k: v for k, v in before["nexus"].items() if k not in gone_nexus} == after["nexus"]
    gone_registries = set(before["harbor"]["registries"]) - set(after["harbor"]["registries"])
    gone_projects = set(before["harbor"]["projects"]) - set(after["harbor"]["projects"])
    assert (gone_registries, gone_projects) == ({"provisioner-ghcr"}, {"ghcr"})
    for name in ("provisioner-ghcr-old", "provisioner-ghcr-other", "foreign-endpoint"):
        assert after["harbor"]["registries"][name] == before["harbor"]["registries"][name]
    assert after["files"] == before["files"]  # generated files are never deleted

    restored = world.apply()  # the full profile again: ghcr comes back, nothing else moves
    assert restored.returncode == 0, restored.stderr
    assert world.cli("diff", str(world.profile), "--detailed-exitcode").returncode == 0


def test_prune_leaves_another_profiles_nexus_repositories(tmp_path: Path) -> None:
    with lab(tmp_path) as other:
        assert other.apply().returncode == 0
        # A second team's profile on the same Nexus: its own target name and cache "quay".
        b_profile = other.root / "team-b.yaml"
        b_profile.write_text(
            "version: 1\nprobe: {enabled: false}\n"
            "upstreams: {quay-direct: {kind: registry, url: 'https://quay.io'}}\n"
            "caches: {quay: {mirrors: quay.io, upstreams: [quay-direct]}}\n"
            f"targets:\n  team-b: {{kind: nexus, url: '{other.nexus.url}', username: admin, "
            "password: '${NEXUS_PASSWORD}'}\n")
        made = other.cli("apply", str(b_profile), "-y")
        assert made.returncode == 0, made.stderr
        assert {"quay", "quay-quay-direct"} <= set(other.nexus.repos)
        pruned = other.cli("apply", str(other.profile), "-y", "--prune", "--target", "hq-nexus")
        assert pruned.returncode == 0, pruned.stderr
        assert {"quay", "quay-quay-direct"} <= set(other.nexus.repos)

"""Bootstrapping a fresh Nexus through the CLI: the acceptance path of issue 3, on the fake.

A fresh fake has a random admin password written to ``admin.password``, the EULA not accepted,
the two default realms and anonymous access off. A real Nexus cannot be made fresh by a test,
so against one (``NEXUS_URL`` set) only "re-running bootstrap on a set-up instance does
nothing" runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.nexus import INITIAL_REALMS, NexusFake
from tests.integration.test_nexus_cli import HUB, Nexus, cli, json_plan, nexus, write_profile

__all__ = ["nexus"]  # the fixture, re-used

NEW_PASSWORD = "The-New-Admin-Pass-1"


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[NexusFake]:
    fake = NexusFake(password_file=tmp_path / "admin.password")
    fake.start()
    yield fake
    assert fake.spec_violations == []
    assert fake.unknown_fields == []
    fake.stop()


def fresh_profile(tmp_path: Path, fake: NexusFake, wait: str = "30s") -> Path:
    server = Nexus(fake.url, "admin", NEW_PASSWORD, fake)
    return write_profile(
        tmp_path / "p.yaml",
        server,
        target=f"""\
        blob_store: docker
        ports: {{hub: 18082}}
        bootstrap:
          initial_password_file: {tmp_path / "admin.password"}
          accept_eula: true
          wait: {wait}
        """,
    )


def test_fresh_instance_diff_apply_converge(fresh: NexusFake, tmp_path: Path) -> None:
    profile = fresh_profile(tmp_path, fresh)
    initial = fresh.initial_password
    assert initial is not None

    shown = cli("diff", str(profile))
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for line in (
        "~ nexus.hq.bootstrap.admin-password will be updated in place",
        "    ~ password: (sensitive)",
        "~ nexus.hq.bootstrap.eula will be updated in place",
        "+ nexus.hq.blobstore.docker will be created",
        "+ nexus.hq.repository.hub-cf-worker will be created",
        "+ nexus.hq.repository.hub will be created",
        "~ nexus.hq.security.realms will be updated in place",
        "~ nexus.hq.security.anonymous will be updated in place",
        "Plan: 8 to add, 4 to change, 0 to destroy.",
    ):
        assert line in text, text
    for secret in (initial, NEW_PASSWORD, "hk-secret-pass"):
        assert secret not in text
    assert fresh.write_count() == 0
    assert cli("diff", str(profile), "--detailed-exitcode").returncode == 2

    applied = cli("apply", str(profile), "-y")
    assert applied.returncode == 0, applied.stderr
    assert fresh.admin_password == NEW_PASSWORD
    assert not (tmp_path / "admin.password").exists()  # Nexus deletes it on the change
    assert fresh.eula_accepted
    assert fresh.active_realms == [*INITIAL_REALMS, "DockerToken"]
    assert fresh.anonymous["enabled"] is True
    assert "docker" in fresh.blobstores
    group = fresh.repos["hub"].body
    assert group["group"]["memberNames"] == [f"hub-{u}" for u in HUB]
    assert group["docker"]["httpPort"] == 18082 and group["docker"]["forceBasicAuth"] is False
    assert all(fresh.repos[f"hub-{u}"].body["storage"]["blobStoreName"] == "docker" for u in HUB)

    assert cli("diff", str(profile), "--detailed-exitcode").returncode == 0
    writes = fresh.write_count()
    again = cli("apply", str(profile), "-y")
    assert again.returncode == 0 and "No changes" in again.stdout
    assert fresh.write_count() == writes


def test_json_plan_masks_bootstrap_secrets(fresh: NexusFake, tmp_path: Path) -> None:
    plan = json_plan(fresh_profile(tmp_path, fresh))
    password = next(c for c in plan if c["address"] == "nexus.hq.bootstrap.admin-password")
    assert password["change"]["after"] == {"password": "(sensitive)"}
    assert fresh.initial_password is not None and fresh.initial_password not in str(plan)


def test_half_bootstrapped_instance_only_accepts_the_eula(fresh: NexusFake, tmp_path: Path) -> None:
    profile = fresh_profile(tmp_path, fresh)
    fresh.admin_password = NEW_PASSWORD  # changed by hand; the EULA is still pending
    plan = json_plan(profile)
    assert [c["address"] for c in plan if ".bootstrap." in c["address"]] == [
        "nexus.hq.bootstrap.eula"
    ]
    assert cli("apply", str(profile), "-y").returncode == 0
    assert fresh.eula_accepted
    post = [r for r in fresh.requests if r.method == "POST" and r.path.endswith("/v1/system/eula")]
    # The fake answers 500 unless the disclaimer is echoed byte for byte: one POST, accepted.
    assert [r.status for r in post] == [204]


def test_waits_for_a_starting_instance(fresh: NexusFake, tmp_path: Path) -> None:
    fresh.set_starting(6)  # 503 to the first requests, as a starting Nexus answers
    assert cli("apply", str(fresh_profile(tmp_path, fresh)), "-y").returncode == 0


def test_gives_up_waiting_with_one_line(fresh: NexusFake, tmp_path: Path) -> None:
    fresh.frozen = True  # writable answers 503 for ever
    result = cli("diff", str(fresh_profile(tmp_path, fresh, wait="1s")))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "not writable after 1s" in result.stderr
    assert fresh.write_count() == 0


def test_eula_endpoint_absent_is_not_needed(tmp_path: Path) -> None:
    fake = NexusFake(password_file=tmp_path / "admin.password", eula_endpoint=False)
    fake.start()
    try:
        profile = fresh_profile(tmp_path, fake)
        assert cli("apply", str(profile), "-y").returncode == 0
        assert cli("diff", str(profile), "--detailed-exitcode").returncode == 0
        assert fake.spec_violations == []
    finally:
        fake.stop()


def test_rerun_on_a_set_up_instance_does_nothing(nexus: Nexus, tmp_path: Path) -> None:
    """Also against a real Nexus: bootstrap planned against an instance already set up."""
    profile = write_profile(
        tmp_path / "p.yaml",
        nexus,
        target="""\
        bootstrap:
          initial_password: not-used-any-more
          accept_eula: true
        """,
    )
    plan = json_plan(profile)
    assert not [c for c in plan if ".bootstrap." in c["address"]]

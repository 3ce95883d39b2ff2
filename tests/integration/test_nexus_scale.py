"""A no-op diff reads the same number of requests for 1 and 10 caches (counts, not timings).

``bench/nexus_requests.py`` prints the counts for 1, 10 and 50 caches.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.nexus_requests import profile
from tests.conftest import cli_command, subprocess_env
from tests.fakes.nexus import NexusFake


def noop_diff_requests(tmp_path: Path, caches: int, bootstrap: bool) -> list[str]:
    fake = NexusFake(bootstrapped=True, admin_password="admin-pass")
    fake.start()
    try:
        path = tmp_path / f"p{caches}.yaml"
        path.write_text(profile(fake.url, caches, bootstrap), encoding="utf-8")
        env = subprocess_env(NO_COLOR="1")
        run = subprocess.run(cli_command("apply", str(path), "-y"), capture_output=True, env=env)
        assert run.returncode == 0, run.stderr
        fake.reset_log()
        diff = subprocess.run(
            cli_command("diff", str(path), "--detailed-exitcode"), capture_output=True, env=env
        )
        assert diff.returncode == 0, diff.stderr
        assert fake.spec_violations == []
        return sorted(f"{r.method} {r.path}" for r in fake.requests)
    finally:
        fake.stop()


def test_noop_diff_does_not_grow_with_caches(tmp_path: Path) -> None:
    one = noop_diff_requests(tmp_path, 1, bootstrap=False)
    assert noop_diff_requests(tmp_path, 10, bootstrap=False) == one
    assert all(line.startswith("GET ") for line in one)
    assert len(one) == 3  # repositorySettings, realms, anonymous


def test_noop_diff_with_bootstrap_block_stays_constant(tmp_path: Path) -> None:
    one = noop_diff_requests(tmp_path, 1, bootstrap=True)
    assert noop_diff_requests(tmp_path, 10, bootstrap=True) == one
    assert "GET /service/rest/v1/status/writable" in one

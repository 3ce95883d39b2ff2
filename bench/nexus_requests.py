"""Count the requests the Nexus target sends, for 1, 10 and 50 caches, against the fake Nexus.

For each size: a profile with N caches of 3 upstreams each (3N proxies + N groups), applied
once to a bootstrapped fake, then a no-op ``diff`` and a no-op ``apply`` whose requests are
counted (reads and writes). Prints a table; asserts nothing (benchmarks print, tests assert).

    python bench/nexus_requests.py [--sizes 1 10 50] [--latency 0.0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import _head as profile_head  # noqa: E402
from tests.fakes.nexus import NexusFake  # noqa: E402

UPSTREAMS = ("cf-worker", "daocloud", "dockerhub")


def profile(url: str, caches: int, bootstrap: bool) -> str:
    lines = [
        *profile_head(caches),
        "  hq:",
        "    kind: nexus",
        f"    url: {url}",
        "    username: admin",
        "    password: admin-pass",
        "    anonymous_pull: true",
    ]
    if bootstrap:
        lines += ["    bootstrap: {initial_password: unused, accept_eula: true}"]
    return "\n".join(lines) + "\n"


def run(*args: str) -> tuple[int, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "provisioner.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    if result.returncode not in (0, 2):
        raise SystemExit(f"provisioner {' '.join(args)} failed:\n{result.stderr}")
    return result.returncode, time.monotonic() - started


def measure(caches: int, latency: float, bootstrap: bool) -> dict[str, float]:
    fake = NexusFake(bootstrapped=True, admin_password="admin-pass")
    fake.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "profile.yaml"
            path.write_text(profile(fake.url, caches, bootstrap), encoding="utf-8")
            fake.reset_log()
            _, apply_seconds = run("apply", str(path), "-y")
            first = len(fake.requests), fake.write_count()
            fake.latency = latency
            fake.reset_log()
            code, diff_seconds = run("diff", str(path), "--detailed-exitcode")
            assert code == 0, "the no-op diff found changes"
            diff_reads = len(fake.requests)
            fake.reset_log()
            run("apply", str(path), "-y")
            return {
                "caches": caches,
                "repos": caches * (len(UPSTREAMS) + 1),
                "first_apply": first[0],
                "first_writes": first[1],
                "noop_diff": diff_reads,
                "noop_apply": len(fake.requests),
                "noop_apply_writes": fake.write_count(),
                "apply_s": apply_seconds,
                "diff_s": diff_seconds,
            }
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the fake adds to each request of the no-op diff",
    )
    parser.add_argument(
        "--bootstrap",
        action="store_true",
        help="give the target a bootstrap block (adds the bootstrap reads)",
    )
    args = parser.parse_args()
    header = (
        "caches",
        "repos",
        "first_apply",
        "first_writes",
        "noop_diff",
        "noop_apply",
        "noop_apply_writes",
        "apply_s",
        "diff_s",
    )
    print(" ".join(f"{h:>17}" for h in header))
    for size in args.sizes:
        row = measure(size, args.latency, args.bootstrap)
        print(
            " ".join(
                f"{row[h]:>17.2f}" if h.endswith("_s") else f"{int(row[h]):>17}" for h in header
            )
        )


if __name__ == "__main__":
    main()

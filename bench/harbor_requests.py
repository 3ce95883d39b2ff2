"""Count the requests of a no-op ``provisioner diff`` against the fake Harbor, by cache count.

Run from the repository root: ``python bench/harbor_requests.py [--latency 0.02] [1 10 50]``.
For each cache count it applies the profile to a fresh fake once (bootstrap included; the
requests and wall time of that apply, verification re-plan included, are printed too), then runs
``diff`` (the CLI, as a subprocess) on the converged instance and prints the requests it sent,
split by kind, and the wall time. Prints numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.harbor import FakeHarbor  # noqa: E402

PASSWORD = "Bench12345"


def profile(url: str, caches: int) -> str:
    lines = ["version: 1", "probe: {enabled: false}", "upstreams:",
             "  a: {kind: registry, url: https://a.example.test, username: u, password: Up5tream}",
             "  b: {kind: mirror, url: https://b.example.test}", "caches:"]
    lines += [f"  c{i:03d}: {{upstreams: [a, b]}}" for i in range(caches)]
    lines += ["targets:", "  hq:", "    kind: harbor", f"    url: {url}", "    username: admin",
              f"    password: {PASSWORD}", "    public: true", "    proxy_speed_kb: 1024",
              "    bootstrap: {initial_password: Harbor12345}"]
    return "\n".join(lines) + "\n"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return subprocess.run([sys.executable, "-m", "provisioner.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", nargs="*", type=int, default=[1, 10, 50])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    args = parser.parse_args()
    print(f"{'caches':>6} {'apply req':>9} {'apply s':>7} | {'diff req':>8} {'diff s':>6}  by path")
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            with FakeHarbor(latency=args.latency) as fake:  # fresh: admin has Harbor12345
                path = Path(tmp) / f"harbor-{count}.yaml"
                path.write_text(profile(fake.url, count), encoding="utf-8")
                started = time.monotonic()
                applied = cli("apply", str(path), "-y")
                apply_seconds = time.monotonic() - started
                apply_requests = len(fake.requests)
                if applied.returncode != 0:
                    sys.exit(f"apply failed: {applied.stderr.strip()}")
                fake.reset_log()
                started = time.monotonic()
                diff = cli("diff", str(path), "--detailed-exitcode")
                seconds = time.monotonic() - started
                if diff.returncode != 0:
                    sys.exit(f"diff is not a no-op ({diff.returncode}): {diff.stdout}{diff.stderr}")
                kinds = collections.Counter(f"{r.method} {r.path.removeprefix('/api/v2.0')}"
                                            for r in fake.requests)
                by_path = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(kinds.items()))
                print(f"{count:>6} {apply_requests:>9} {apply_seconds:>7.2f} | "
                      f"{len(fake.requests):>8} {seconds:>6.2f}  {by_path}")


if __name__ == "__main__":
    main()

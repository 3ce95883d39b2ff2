"""No-op ``diff``: requests sent and wall time, per target kind and number of caches.

For each kind and size the target is converged once (``apply`` without latency), then the fake's
latency is set and ``diff --detailed-exitcode`` (exit 0: nothing to change) is run several times.
The request count is the same in every run; the table shows it split by path.

    python bench/noop_diff.py [--runs 5] [--latency 0.05] [--sizes 1 10 100]
"""

from __future__ import annotations

import argparse
import collections
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Stats, run_cli  # noqa: E402
from bench.rigs import RIGS  # noqa: E402

KINDS = ("registry", "nexus", "harbor")
SIZES = (1, 10, 100)


@dataclass(frozen=True)
class NoopRow:
    kind: str
    caches: int
    requests: Stats
    by_path: str
    wall: Stats


def measure(kind: str, caches: int, latency: float, runs: int) -> NoopRow:
    with RIGS[kind](caches, 0.0) as rig:
        run_cli(["apply", str(rig.profile), "-y", "--parallelism", "64"])
        rig.set_latency(latency)
        counts, walls, paths = [], [], collections.Counter[str]()
        for _ in range(runs):
            rig.reset_log()
            walls.append(run_cli(["diff", str(rig.profile), "--detailed-exitcode"]))
            seen = rig.requests
            counts.append(float(len(seen)))
            paths = collections.Counter(_shape(p) for p in seen)
    by_path = ", ".join(f"{p} x{n}" if n > 1 else p for p, n in sorted(paths.items()))
    return NoopRow(kind, caches, Stats(tuple(counts)), by_path or "(files only)",
                   Stats(tuple(walls)))


def _shape(line: str) -> str:
    """``GET /projects`` for every page of a list; ids collapsed."""
    method, path = line.split(" ", 1)
    parts = ["{id}" if part.isdigit() else part for part in path.split("/")]
    return f"{method} {'/'.join(parts)}"


def run(latency: float, runs: int, sizes: tuple[int, ...] = SIZES,
        kinds: tuple[str, ...] = KINDS) -> list[NoopRow]:
    return [measure(kind, size, latency, runs) for kind in kinds for size in sizes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    args = parser.parse_args()
    for row in run(args.latency, args.runs, tuple(args.sizes), tuple(args.kinds)):
        print(f"{row.kind:<8} {row.caches:>4} caches  {row.requests.count():>4} requests  "
              f"{row.wall.seconds():<22} {row.by_path}", flush=True)


if __name__ == "__main__":
    main()

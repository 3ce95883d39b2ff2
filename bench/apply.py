"""First ``apply``: wall time against the critical-path bound and against a serial run.

For each kind and size (each cache has 3 upstreams), every run starts from a fresh target and
times ``apply -y --parallelism P`` (the CLI, a subprocess) with the fake answering each request
after ``latency`` seconds. Parallelisms: ``WIDE`` (the CLI's maximum), the default 8, and 1
(strictly one request at a time).

The critical-path bound is what no implementation can beat with the same process around it:

    bound = floor + (plan read rounds + dependency depth + verify read rounds) x latency

``floor`` is the measured wall time of a no-op ``diff`` of the same profile against the same
target with no latency (interpreter start, imports, profile, planning, output: everything but
the waiting); the rounds are the request round trips that must follow one another (see
bench/rigs.py and docs/performance.md). ``ratio`` is the apply's median over the bound.

    python bench/apply.py [--runs 3] [--latency 0.05] [--sizes 10 100] [--kinds nexus harbor]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Stats, run_cli  # noqa: E402
from bench.rigs import RIGS, Rig  # noqa: E402
from provisioner.backends import DEFAULT_PARALLELISM  # noqa: E402

KINDS = ("nexus", "harbor", "registry")
SIZES = (10, 100)
WIDE = 64  # the CLI's largest --parallelism
DEFAULT = DEFAULT_PARALLELISM  # what the CLI uses without --parallelism


@dataclass(frozen=True)
class ApplyRow:
    kind: str
    caches: int
    requests: int  # requests of one first apply (plan, writes, verify)
    rounds: int  # plan read rounds + depth + verify read rounds
    floor: Stats  # no-op diff without latency
    latency: float
    wide: Stats
    default: Stats
    serial: Stats
    in_flight: tuple[int, int, int]  # most requests the server saw at once: wide, default, 1

    @property
    def bound(self) -> float:
        return self.floor.median + self.rounds * self.latency

    @property
    def ratio(self) -> float:
        """The fastest apply over the critical-path bound (1.0 would be the floor itself)."""
        return self.wide.median / self.bound

    @property
    def speedup(self) -> float:
        """How much faster than one request at a time."""
        return self.serial.median / self.wide.median


def _apply(rig: Rig, parallelism: int, in_flight: list[int]) -> float:
    rig.fresh()
    seconds = run_cli(["apply", str(rig.profile), "-y", "--parallelism", str(parallelism)])
    in_flight.append(rig.most_in_flight)
    return seconds


def _runs(rig: Rig, parallelism: int, runs: int) -> tuple[Stats, int]:
    in_flight: list[int] = []
    wall = Stats(tuple(_apply(rig, parallelism, in_flight) for _ in range(runs)))
    return wall, max(in_flight)


def measure(kind: str, caches: int, latency: float, runs: int, serial_runs: int) -> ApplyRow:
    with RIGS[kind](caches, latency) as rig:
        _apply(rig, WIDE, [])  # warm-up: the fake builds its spec validators on first use
        wide, wide_most = _runs(rig, WIDE, runs)
        requests = len(rig.requests)
        default, default_most = _runs(rig, DEFAULT, runs)
        serial, serial_most = _runs(rig, 1, serial_runs)
        # The floor: the same process reading the converged target, with nothing to wait for.
        rig.set_latency(0.0)
        floor = Stats(tuple(run_cli(["diff", str(rig.profile), "--detailed-exitcode"])
                            for _ in range(runs)))
        rounds = rig.read_rounds() + rig.depth + rig.verify_rounds()
    return ApplyRow(kind, caches, requests, rounds if kind != "registry" else 0, floor, latency,
                    wide, default, serial, (wide_most, default_most, serial_most))


def run(latency: float, runs: int, serial_runs: int, sizes: tuple[int, ...] = SIZES,
        kinds: tuple[str, ...] = KINDS) -> list[ApplyRow]:
    return [measure(kind, size, latency, runs, serial_runs) for kind in kinds for size in sizes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serial-runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    args = parser.parse_args()
    for row in run(args.latency, args.runs, args.serial_runs, tuple(args.sizes),
                   tuple(args.kinds)):
        print(f"{row.kind:<8} {row.caches:>4} caches {row.requests:>4} req  "
              f"p{WIDE} {row.wide.seconds()}  p{DEFAULT} {row.default.seconds()}  "
              f"p1 {row.serial.seconds()}  bound {row.bound:.2f}s "
              f"(floor {row.floor.median:.2f}s + {row.rounds} x {row.latency * 1000:.0f} ms)  "
              f"ratio {row.ratio:.2f}  speedup {row.speedup:.1f}x  in flight (max) "
              f"{'/'.join(map(str, row.in_flight))}", flush=True)


if __name__ == "__main__":
    main()

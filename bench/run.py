"""Every benchmark of issue 8 in one run, printed as one Markdown table.

    python bench/run.py            # full: 5 runs per figure (3 for the serial applies)
    python bench/run.py --quick    # fewer runs, for a look
    python bench/run.py --only apply noop

Sections: no-op ``diff`` (requests and wall time, 1/10/100 caches, per target kind); first
``apply`` of 10 and 100 caches x 3 upstreams against the critical-path bound and against
``--parallelism 1``; ``probe`` of 20 slow upstreams (bench/probe_20.py); start-up
(``--version``, ``--help``, ``validate``, import time); failover recovery on the real registry
chain (bench/failover_recovery.py). Fakes run in this process on 127.0.0.1 with ``--latency``
seconds per request; every CLI command runs as a subprocess. Figures are the median of the runs,
with (min-max). Nothing is asserted: the numbers are for reading (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import apply, external, noop_diff, startup  # noqa: E402
from bench.common import ROOT  # noqa: E402

SECTIONS = ("noop", "apply", "probe", "startup", "failover")


class Table:
    """Rows of a Markdown table, printed as they come so a long run shows progress."""

    def __init__(self) -> None:
        print("| measurement | requests | median (min-max) | notes |")
        print("|---|---:|---|---|", flush=True)

    def row(self, what: str, requests: str, wall: str, note: str = "") -> None:
        print(f"| {what} | {requests} | {wall} | {note} |", flush=True)


def noop_section(table: Table, latency: float, runs: int) -> None:
    for row in noop_diff.run(latency, runs):
        caches = f"{row.caches} cache{'s' if row.caches != 1 else ''}"
        table.row(f"no-op `diff`, {row.kind}, {caches}", row.requests.count(),
                  row.wall.seconds(), row.by_path)


def apply_section(table: Table, latency: float, runs: int, serial_runs: int) -> None:
    ms = f"{latency * 1000:.0f} ms"
    for row in apply.run(latency, runs, serial_runs):
        what = f"first `apply`, {row.kind}, {row.caches} caches x 3 upstreams"
        req = str(row.requests)
        if row.kind == "registry":
            table.row(f"{what}, `--parallelism {apply.WIDE}`", req, row.wide.seconds(),
                      f"files only; floor (no-op diff) {row.floor.seconds()}")
            continue
        table.row(f"{what}, critical-path bound", "", f"{row.bound:.2f}s",
                  f"floor {row.floor.median:.2f}s (no-op diff, no latency) + {row.rounds} "
                  f"rounds x {ms}")
        wide, default, serial = row.in_flight
        table.row(f"{what}, `--parallelism {apply.WIDE}`", req, row.wide.seconds(),
                  f"**{row.ratio:.2f}x the bound; {row.speedup:.1f}x faster than serial**; "
                  f"at most {wide} requests in flight")
        table.row(f"{what}, `--parallelism {apply.DEFAULT}` (default)", req,
                  row.default.seconds(), f"{row.default.median / row.bound:.2f}x the bound; "
                  f"at most {default} in flight")
        table.row(f"{what}, `--parallelism 1` (one request at a time)", req,
                  row.serial.seconds(), f"{row.serial.median / row.bound:.2f}x the bound; "
                  f"at most {serial} in flight")


def probe_section(table: Table, runs: int) -> None:
    for row in external.probe(runs):
        table.row(row.label, "", row.wall.seconds() if row.wall else "-", row.note)


def startup_section(table: Table, runs: int) -> None:
    for row in startup.run(runs):
        table.row(f"start-up: {row.label}", "", row.wall.seconds(), row.note)


def failover_section(table: Table, runs: int) -> None:
    for row in external.failover(runs):
        table.row(row.label, "", row.wall.seconds() if row.wall else "-", row.note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs per figure")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--latency", type=float, default=0.05,
                        help="seconds the fakes add to every request (default 0.05)")
    args = parser.parse_args()
    os.chdir(ROOT)
    runs = 2 if args.quick else 5
    started = time.monotonic()
    print(f"bench/run.py{' --quick' if args.quick else ''}: Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; fakes answer after "
          f"{args.latency * 1000:.0f} ms; median (min-max) of {runs} runs\n")
    table = Table()
    if "noop" in args.only:
        noop_section(table, args.latency, runs)
    if "apply" in args.only:
        apply_section(table, args.latency, runs, 1 if args.quick else 3)
    if "probe" in args.only:
        probe_section(table, runs)
    if "startup" in args.only:
        startup_section(table, 5 if args.quick else 15)
    if "failover" in args.only:
        failover_section(table, 1 if args.quick else 5)
    print(f"\n({time.monotonic() - started:.0f}s; load average {os.getloadavg()[0]:.1f} at the "
          "end)")


if __name__ == "__main__":
    main()

"""The fault matrix: every write of a full apply, failed in every way, then one clean re-apply.

A *baseline* applies the lab's full profile to fresh servers with ``--parallelism 1`` (so the
Nth write is the same request in every run) and records each server's writes, the plan's
addresses and the converged state. A *scenario* (server, write index, fault kind) repeats that
apply in a fresh lab with one fault on that write, then applies again without faults, and checks:

1. the faulted run either succeeded (a safe retry absorbed the fault) or exited 1 with exactly
   one ``Error:`` line, last on stderr, naming a change address; never a traceback or a hang;
2. the clean re-apply exits 0 and a ``diff --detailed-exitcode`` after it exits 0;
3. both servers and every generated file equal the baseline's (no duplicate, nothing missing,
   no stray temp file), and the planted foreign resources are exactly as they were.

Fault kinds are the five of :mod:`tests.fakes.base` (the server refused or never processed the
write) plus ``late``: the server committed the write and answered after the client's timeout,
the case where a blind POST retry would create a duplicate.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.base import FAULT_KINDS, Fault
from tests.reliability import filefault
from tests.reliability.lab import Lab, LateAnswers, Run, lab

FILE_UNITS = ("registry", "upstreams", "clients")
READ_ONLY_POSTS = ("/registries/ping",)  # Harbor's ping changes nothing; retrying it is safe

HTTP_KINDS: tuple[str, ...] = (*FAULT_KINDS, "late")
KINDS = {"nexus": HTTP_KINDS, "harbor": HTTP_KINDS, "files": filefault.KINDS}
SERVERS = ("nexus", "harbor", "files")


@dataclass(frozen=True)
class Scenario:
    server: str
    index: int  # the write (0-based) of a full apply that fails
    kind: str
    request: str  # that write in the baseline, "METHOD /path"

    def __str__(self) -> str:
        return f"{self.server} write {self.index} ({self.request}) x {self.kind}"


@dataclass
class Baseline:
    writes: dict[str, list[str]]
    addresses: list[str]
    snapshot: dict[str, Any]

    def scenarios(self, servers: Iterable[str] = SERVERS,
                  kinds: Iterable[str] | None = None) -> list[Scenario]:
        return [Scenario(server, i, kind, request)
                for server in servers for kind in KINDS[server]
                if kinds is None or kind in kinds
                for i, request in enumerate(self.writes[server])]


@dataclass
class Outcome:
    scenario: Scenario
    survived: bool = False  # the faulted run itself exited 0
    error_line: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def baseline(root: Path) -> Baseline:
    with lab(root) as world:
        addresses = world.plan_addresses()
        world.nexus.reset_log()  # the diff's reads (and Harbor's pings) are not the apply's
        world.harbor.reset_log()
        run = world.apply("--parallelism", "1")
        if run.returncode != 0:
            raise AssertionError(f"the fault-free apply failed: {run.stderr}")
        writes = {name: [f"{r.method} {r.path}" for r in fake.writes()]
                  for name, fake in (("nexus", world.nexus), ("harbor", world.harbor))}
        # With --parallelism 1 the progress lines are in execution order: the file writes.
        writes["files"] = [line.split(": ")[0] for line in run.stderr.splitlines()
                           if " done (" in line and line.split(".")[0] in FILE_UNITS]
        return Baseline(writes, addresses, world.snapshot())


def run_scenario(root: Path, scenario: Scenario, base: Baseline) -> Outcome:
    outcome = Outcome(scenario)
    with lab(root) as world:
        foreign = world.foreign()
        if scenario.server == "files":
            first = world.apply("--parallelism", "1",
                                file_fault=f"{scenario.kind}:{scenario.index}")
            fired = f"Error: {scenario.request}: cannot write " in first.stderr
        else:
            fake = world.nexus if scenario.server == "nexus" else world.harbor
            if scenario.kind == "late":
                fake.late_skip = scenario.index
            else:
                fake.inject(Fault(scenario.kind, writes_only=True,  # type: ignore[arg-type]
                                  skip=scenario.index))
            first = world.apply("--parallelism", "1")
            fired = fake.late_skip is None if scenario.kind == "late" else not fake.faults
            if scenario.kind == "late":
                outcome.problems += _blind_retries(fake)
        if not fired:
            outcome.problems.append("the fault did not hit the write it was meant for")
        _check_faulted_run(first, base, outcome)
        second = world.apply()
        if second.returncode != 0 or second.hung:
            outcome.problems.append(f"clean re-apply exited {second.returncode}: "
                                    f"{_last(second.stderr)}")
        check = world.cli("diff", str(world.profile), "--detailed-exitcode")
        if check.returncode != 0:
            outcome.problems.append(f"not converged after the re-apply (diff exit "
                                    f"{check.returncode}): {_last(check.stdout + check.stderr)}")
        outcome.problems += compare(base.snapshot, world.snapshot())
        if world.foreign() != foreign:
            outcome.problems.append("a foreign resource changed")
        outcome.problems += _tracebacks(world)
        outcome.seconds = sum(r.seconds for r in world.runs)
    return outcome


def _check_faulted_run(run: Run, base: Baseline, outcome: Outcome) -> None:
    if run.hung:
        outcome.problems.append("the faulted run hung")
        return
    if run.returncode == 0:
        outcome.survived = True
        return
    if run.returncode != 1:
        outcome.problems.append(f"the faulted run exited {run.returncode}")
    errors = run.error_lines
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if len(errors) != 1 or not lines or lines[-1] != errors[0]:
        outcome.problems.append(f"expected one final Error: line, got {errors!r}")
        return
    outcome.error_line = errors[0]
    if not any(f"Error: {address}: " in errors[0] for address in base.addresses):
        outcome.problems.append(f"the error names no change address: {errors[0]}")


def _blind_retries(fake: LateAnswers) -> list[str]:
    """A POST sent twice with the same body in the faulted run (a committed one re-sent)."""
    seen: set[tuple[str, str, bytes]] = set()
    out = []
    for entry in fake.handled:
        method, path, _ = entry
        if method != "POST" or path.endswith(READ_ONLY_POSTS):
            continue
        if entry in seen:
            out.append(f"POST {path} re-sent with the same body")
        seen.add(entry)
    return out


def _tracebacks(world: Lab) -> list[str]:
    return [f"traceback in {' '.join(run.args[:1])}" for run in world.runs
            if "Traceback" in run.stdout + run.stderr]


def compare(want: Any, have: Any, path: str = "") -> list[str]:
    """Readable differences between two snapshots (missing, extra, changed)."""
    if isinstance(want, dict) and isinstance(have, dict):
        out: list[str] = []
        for key in sorted(set(want) | set(have), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in have:
                out.append(f"missing {where}")
            elif key not in want:
                out.append(f"extra {where}")
            else:
                out += compare(want[key], have[key], where)
        return out
    return [] if want == have else [f"differs {path}"]


def run_matrix(scenarios: list[Scenario], base: Baseline, workers: int = 3,
               progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run ``scenarios`` (each in its own lab and temp directory), ``workers`` at a time."""

    def one(scenario: Scenario) -> Outcome:
        with tempfile.TemporaryDirectory(prefix="fault-") as tmp:
            outcome = run_scenario(Path(tmp), scenario, base)
        if progress is not None:
            progress(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, scenarios))


def _last(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"

"""Two applies of the same profile at the same time, against the same servers and files.

Both start together (each a CLI subprocess) against servers with a little latency, so their
reads happen before either writes and both plan to create everything: the slower one meets
"already exists" on every create. Both must exit 0, and the servers must hold exactly what one
apply alone makes.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import cli_command
from tests.reliability.faultmatrix import Baseline, compare
from tests.reliability.lab import Lab, Run, lab

CACHES = ("dockerhub", "ghcr")


@dataclass
class Race:
    runs: list[Run]
    run_problems: list[str] = field(default_factory=list)  # a racing apply failed
    state_problems: list[str] = field(default_factory=list)  # not converged, duplicates
    conflicts: int = 0  # creates answered "already exists" (the race really happened)
    recovered: Run | None = None

    @property
    def problems(self) -> list[str]:
        return self.run_problems + self.state_problems

    @property
    def ok(self) -> bool:
        return not self.problems


def _start(world: Lab) -> tuple[subprocess.Popen[str], float]:
    command = cli_command("apply", str(world.profile), "-y")
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=world.env, cwd=world.root), time.monotonic()


def race(root: Path, base: Baseline, *, bootstrapped: bool = True, runs: int = 2,
         latency: float = 0.05, recover: bool = False) -> Race:
    """``runs`` applies at once, then the state is compared with ``base``.

    ``bootstrapped``: a first apply set the servers up, then everything it made on them is
    deleted, so the race is about creating resources; otherwise both runs also bootstrap.
    ``recover``: one clean apply runs after the race, before the state is checked.
    """
    with lab(root, latency=latency) as world:
        if bootstrapped:
            first = world.apply()
            assert first.returncode == 0, first.stderr
            _forget_resources(world)
        procs = [_start(world) for _ in range(runs)]
        results = []
        for proc, started in procs:
            out, err = proc.communicate(timeout=180)
            results.append(Run(("apply",), proc.returncode, out, err, time.monotonic() - started))
        outcome = Race(results)
        for i, run in enumerate(results):
            if run.returncode != 0:
                outcome.run_problems.append(f"apply {i} exited {run.returncode}: "
                                            f"{run.stderr.strip().splitlines()[-1:]}")
            if "Traceback" in run.stderr or (run.returncode and len(run.error_lines) != 1):
                outcome.state_problems.append(f"apply {i}: a traceback or not one error line")
        if recover:
            outcome.recovered = world.apply()
        check = world.cli("diff", str(world.profile), "--detailed-exitcode")
        if check.returncode != 0:
            outcome.state_problems.append(f"not converged: diff exit {check.returncode}")
        outcome.state_problems += compare(base.snapshot, world.snapshot())
        outcome.conflicts = sum(1 for fake in (world.nexus, world.harbor)
                                for r in fake.requests if r.method == "POST"
                                and r.status in (400, 409))
    return outcome


def _forget_resources(world: Lab) -> None:
    """Delete what the first apply created on the servers, keeping the bootstrap done."""
    with world.nexus.lock:
        for name in [n for n in world.nexus.repos
                     if any(n == c or n.startswith(f"{c}-") for c in CACHES)]:
            del world.nexus.repos[name]
    with world.harbor.lock:
        for name in CACHES:
            world.harbor.projects.pop(name, None)
        for rid in [rid for rid, r in world.harbor.registries.items()
                    if r["name"].startswith("provisioner-")]:
            del world.harbor.registries[rid]
    for fake in (world.nexus, world.harbor):
        fake.reset_log()


def races(base: Baseline, rounds: int, **kwargs: object) -> list[Race]:
    out = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="race-") as tmp:
            out.append(race(Path(tmp), base, **kwargs))  # type: ignore[arg-type]
    return out

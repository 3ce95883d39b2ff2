"""The apply scheduler: dependencies, bounded concurrency, order among ready changes, failures.

A recording backend stands in for a server: each change "takes" a few milliseconds, and the
backend records when each started and ended and how many ran at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from provisioner.engine import ApplyError, PlannedUnit, execute
from provisioner.errors import PlanError
from provisioner.plan import Action, Change


class Recorder:
    """A backend whose ``apply`` sleeps briefly and records the order and the overlap."""

    def __init__(self, fail: str = "", seconds: float = 0.01) -> None:
        self.fail = fail
        self.seconds = seconds
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.ended: list[str] = []
        self.running = 0
        self.most = 0

    def apply(self, client: Any, change: Change) -> None:
        with self.lock:
            self.started.append(change.address)
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.ended.append(change.address)
        if change.address == self.fail:
            raise RuntimeError("server said no")


def change(address: str, *deps: str, action: Action = Action.CREATE) -> Change:
    return Change(address, action, "t", "thing", depends_on=deps)


def unit(backend: Recorder, *changes: Change) -> PlannedUnit:
    return PlannedUnit(ctx=None, backend=backend, client=None, changes=list(changes))  # type: ignore[arg-type]


def group_plan(groups: int, members: int) -> list[Change]:
    """Like Nexus: ``members`` proxies per group, each group after its proxies."""
    out = []
    for g in range(groups):
        proxies = [change(f"p{g}-{m}") for m in range(members)]
        out += [*proxies, change(f"g{g}", *(p.address for p in proxies))]
    return out


@pytest.mark.parametrize("parallelism", [1, 3, 8])
def test_dependencies_first_and_never_more_than_parallelism(parallelism: int) -> None:
    backend = Recorder()
    done = execute([unit(backend, *group_plan(4, 3))], parallelism)
    assert done == 16
    assert backend.most <= parallelism
    for g in range(4):
        group_start = backend.started.index(f"g{g}")
        assert all(backend.ended.index(f"p{g}-{m}") < group_start for m in range(3))


def test_parallelism_one_is_strictly_serial() -> None:
    backend = Recorder()
    execute([unit(backend, *group_plan(3, 2))], 1)
    assert backend.most == 1
    assert backend.started == backend.ended  # each ended before the next started


class Meeting(Recorder):
    """Every change waits until ``parties`` changes are running at once."""

    def __init__(self, parties: int) -> None:
        super().__init__(seconds=0.0)
        self.barrier = threading.Barrier(parties, timeout=10)

    def apply(self, client: Any, change: Change) -> None:
        self.barrier.wait()  # broken (an error) unless all of them run together
        super().apply(client, change)


def test_independent_changes_run_together() -> None:
    backend = Meeting(8)
    assert execute([unit(backend, *(change(f"c{i}") for i in range(8)))], 8) == 8


def test_dependent_changes_wait_only_for_their_own_dependencies() -> None:
    """g0 may start with p1-0 still running: it waits for its proxies, not for everything."""
    release = threading.Event()

    class Slow(Recorder):
        def apply(self, client: Any, change: Change) -> None:
            if change.address == "p1-0":
                assert release.wait(10), "g0 never started while p1-0 ran"
            super().apply(client, change)
            if change.address == "g0":
                release.set()

    backend = Slow(seconds=0.0)
    execute([unit(backend, *group_plan(2, 1))], 4)
    assert backend.ended.index("g0") < backend.ended.index("p1-0")


def test_longest_chain_starts_first() -> None:
    """Among ready changes, the one heading the longest chain goes first, even when the plan
    lists the leaves first (so a chain's tail does not run alone at the end); equal chains go
    in the order they became ready."""
    backend = Recorder(seconds=0.0)
    plan = [change("leaf-1"), change("leaf-2"), change("a"), change("b", "a"), change("c", "b")]
    execute([unit(backend, *plan)], 1)
    assert backend.started == ["a", "b", "leaf-1", "leaf-2", "c"]


def test_a_change_ready_early_is_not_overtaken_by_later_ones() -> None:
    """Like Nexus's realms (ready at once, nothing waits on it) and its groups (ready once
    their proxies are done): with the proxies running, the realms change is next."""
    backend = Recorder(seconds=0.0)
    plan = [*group_plan(2, 1), change("realms")]
    execute([unit(backend, *plan)], 1)
    assert backend.started == ["p0-0", "p1-0", "realms", "g0", "g1"]


def test_a_dependency_outside_the_plan_does_not_wait() -> None:
    backend = Recorder()
    noop = change("exists", action=Action.NOOP)
    assert execute([unit(backend, noop, change("x", "exists", "elsewhere"))], 2) == 1


def test_dependencies_across_units() -> None:
    first, second = Recorder(), Recorder()
    execute([unit(first, change("a")), unit(second, change("b", "a"))], 4)
    assert first.ended == ["a"] and second.started == ["b"]


def test_after_a_failure_nothing_new_starts() -> None:
    backend = Recorder(fail="p0-0")
    with pytest.raises(ApplyError) as caught:
        execute([unit(backend, *group_plan(2, 2))], 1)
    assert caught.value.address == "p0-0"
    assert backend.started == ["p0-0"]  # the first ready change, then nothing else
    assert "0 of 6 changes applied" in str(caught.value)


def test_a_dependency_cycle_is_an_error() -> None:
    backend = Recorder()
    with pytest.raises(PlanError, match="dependency cycle among a, b"):
        execute([unit(backend, change("a", "b"), change("b", "a"), change("free"))], 4)
    assert backend.started == ["free"]


def test_a_blocked_change_stops_the_apply_before_anything_runs() -> None:
    backend = Recorder()
    blocked = Change("r", Action.REPLACE, "t", "thing", blocked="needs --replace")
    with pytest.raises(PlanError, match="nothing was changed"):
        execute([unit(backend, change("a"), blocked)], 4)
    assert backend.started == []

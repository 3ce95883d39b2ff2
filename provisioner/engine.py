"""Run backends: read and plan every target, execute changes in dependency order, verify.

The engine knows nothing about any one backend. It builds a :class:`TargetContext` per unit
(each profile target, plus ``clients`` and ``upstreams`` for the generated client configs and
upstream proxies), asks the unit's backend for changes, and executes them with a bounded pool:
a change starts as soon as everything in its ``depends_on`` is done, so an apply takes about
(dependency depth x server latency), not (number of changes x latency).
"""

from __future__ import annotations

import heapq
import importlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Any

from provisioner.backends import DEFAULT_PARALLELISM
from provisioner.backends.base import Options, TargetContext
from provisioner.errors import ConvergenceError, PlanError, ProvisionerError
from provisioner.plan import Change, Plan
from provisioner.profile.model import Profile
from provisioner.selection import Selection

log = logging.getLogger(__name__)

# Backends are imported only when a unit of their kind is planned: `--help` and `validate`
# never pay for requests or a backend's modules.
BACKENDS: dict[str, str] = {
    "registry": "provisioner.backends.registry:RegistryBackend",
    "nexus": "provisioner.backends.nexus:NexusBackend",
    "harbor": "provisioner.backends.harbor:HarborBackend",
    "clients": "provisioner.render.clients:ClientsBackend",
    "upstreams": "provisioner.render.upstreams:UpstreamsBackend",
}
PSEUDO_UNITS = ("clients", "upstreams")


def load_backend(kind: str) -> Any:
    module_name, _, attr = BACKENDS[kind].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("provisioner"):
            raise PlanError(f"target kind {kind!r} is not supported by this version") from None
        raise
    return getattr(module, attr)()


def unit_names(profile: Profile) -> list[str]:
    """Every unit ``--target`` may name: the targets, then ``upstreams`` and ``clients``."""
    names = list(profile.targets)
    if any(u.deploy is not None for u in profile.upstreams.values()):
        names.append("upstreams")
    if profile.clients is not None:
        names.append("clients")
    return names


def build_units(
    profile: Profile, selection: Selection, options: Options, only: Sequence[str] = ()
) -> list[TargetContext]:
    """Contexts for the units to plan; ``only`` filters by name (unknown names are an error)."""
    known = unit_names(profile)
    for name in only:
        if name not in known:
            raise PlanError(f"unknown target {name!r} (known: {', '.join(known) or 'none'})")
    units = []
    for name in known:
        if only and name not in only:
            continue
        if name in profile.targets:
            spec: Any = profile.targets[name]
            kind = spec.kind
        else:
            kind, spec = name, (profile.clients if name == "clients" else profile.upstreams)
        units.append(TargetContext(name, kind, spec, profile, selection, options))
    return units


@dataclass
class PlannedUnit:
    """A unit with its backend, client and planned changes (bootstrap changes first)."""

    ctx: TargetContext
    backend: Any
    client: Any
    changes: list[Change]


def plan_unit(ctx: TargetContext, client: Any = None) -> PlannedUnit:
    """Read and plan one unit; ``client`` reuses a connected client (its open connections)."""
    backend = load_backend(ctx.kind)
    if client is None:
        client = backend.connect(ctx)
    bootstrap = backend.prepare(client, ctx)
    desired = backend.desired(ctx)
    actual = backend.read_actual(client, ctx, desired)
    changes = backend.plan(ctx, desired, actual)
    # Nothing of a target may run before its bootstrap (password, EULA) is done.
    first = tuple(c.address for c in bootstrap if not c.is_noop)
    if first:
        changes = [replace(c, depends_on=(*c.depends_on, *first)) for c in changes]
    return PlannedUnit(ctx, backend, client, [*bootstrap, *changes])


def plan_all(
    units: Sequence[TargetContext],
    parallelism: int = DEFAULT_PARALLELISM,
    clients: Mapping[str, Any] | None = None,
) -> tuple[Plan, list[PlannedUnit]]:
    """Plan every unit, concurrently (reads of one target never wait on another's);
    ``clients`` maps unit names to connected clients to reuse (see :func:`verify`)."""
    if not units:
        return Plan(), []
    known = clients or {}
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(units)))) as pool:
        planned = list(pool.map(lambda u: plan_unit(u, known.get(u.name)), units))
    changes = tuple(c for p in planned for c in p.changes)
    notes = tuple(n for p in planned for n in p.ctx.notes)
    return Plan(changes, notes), planned


class ApplyError(ProvisionerError):
    """A change failed; ``done`` changes were applied before it."""

    def __init__(self, address: str, error: Exception, done: int, total: int) -> None:
        super().__init__(
            f"{address}: {error} ({done} of {total} changes applied; "
            "fix the cause and run apply again: it continues from here)"
        )
        self.address = address
        self.error = error


def execute(
    planned: Sequence[PlannedUnit],
    parallelism: int = DEFAULT_PARALLELISM,
    on_done: Callable[[Change, float], None] | None = None,
) -> int:
    """Apply every pending change, each once its dependencies are done. Returns the count.

    At most ``parallelism`` changes run at once. A change starts as soon as everything it
    depends on is done, never waiting for unrelated changes; among ready changes, those heading
    the longest dependency chains go first (then plan order), so the last round is not held up
    by a chain that could have started earlier. A change whose dependency is not in the plan
    does not wait. After the first failure no new change starts; the ones running finish, then
    the failure is raised as :class:`ApplyError`.
    """
    owner: dict[str, PlannedUnit] = {}
    pending: dict[str, Change] = {}
    for unit in planned:
        for change in unit.changes:
            if not change.is_noop:
                pending[change.address] = change
                owner[change.address] = unit
    blocked = [c for c in pending.values() if c.blocked]
    if blocked:  # refuse before anything is written, not half-way through
        raise PlanError(
            "; ".join(f"{c.address}: {c.blocked}" for c in blocked) + " (nothing was changed)"
        )
    schedule = _Schedule(pending)
    total, done = len(pending), 0
    running: dict[Future[float], Change] = {}
    failure: tuple[str, Exception] | None = None

    def run(change: Change) -> float:
        unit = owner[change.address]
        start = time.monotonic()
        unit.backend.apply(unit.client, change)
        return time.monotonic() - start

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        while True:
            while failure is None and schedule.ready and len(running) < parallelism:
                change = schedule.take()
                running[pool.submit(run, change)] = change
            if not running:
                break
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                change = running.pop(future)
                try:
                    seconds = future.result()
                except Exception as exc:  # noqa: BLE001 - reported as ApplyError below
                    if failure is None:
                        failure = (change.address, exc)
                    continue
                schedule.finish(change.address)
                done += 1
                if on_done is not None:
                    on_done(change, seconds)
    if failure is not None:
        raise ApplyError(failure[0], failure[1], done, total)
    if schedule.waiting:
        raise PlanError(f"dependency cycle among {', '.join(sorted(schedule.waiting))}")
    return done


class _Schedule:
    """The changes of an apply, released as their dependencies finish.

    Each change counts its unfinished dependencies (those in the plan); finishing one releases
    its dependents at zero. Ready changes come out highest first (the length of the longest
    chain a change heads), then in the order they became ready.
    """

    def __init__(self, changes: dict[str, Change]) -> None:
        self.changes = changes
        self.dependents: dict[str, list[str]] = {a: [] for a in changes}
        self.missing: dict[str, int] = {}
        for address, change in changes.items():
            deps = {d for d in change.depends_on if d in changes and d != address}
            self.missing[address] = len(deps)
            for dep in deps:
                self.dependents[dep].append(address)
        self.height = self._heights()
        self.ready: list[tuple[int, int, str]] = []
        self._released = 0
        for address, count in self.missing.items():
            if count == 0:
                self._release(address)
        self.waiting = {a for a, count in self.missing.items() if count}

    def _release(self, address: str) -> None:
        # Highest first; equal heights in the order they became ready (plan order at first),
        # so a change that was ready early is not overtaken by dependents released later.
        self._released += 1
        heapq.heappush(self.ready, (-self.height[address], self._released, address))

    def _heights(self) -> dict[str, int]:
        """Longest chain of dependents below each change (1 for a change nothing waits on);
        a cycle is cut where it is found (it is reported when nothing can run)."""
        height: dict[str, int] = {}
        for root in self.changes:
            stack: list[tuple[str, bool]] = [(root, False)]
            visiting: set[str] = set()
            while stack:
                address, expanded = stack.pop()
                if address in height:
                    continue
                if expanded:
                    visiting.discard(address)
                    below = [height.get(d, 0) for d in self.dependents[address]]
                    height[address] = 1 + max(below, default=0)
                    continue
                visiting.add(address)
                stack.append((address, True))
                stack.extend((d, False) for d in self.dependents[address]
                             if d not in height and d not in visiting)
        return height

    def take(self) -> Change:
        return self.changes[heapq.heappop(self.ready)[2]]

    def finish(self, address: str) -> None:
        for dependent in self.dependents[address]:
            self.missing[dependent] -= 1
            if self.missing[dependent] == 0:
                self.waiting.discard(dependent)
                self._release(dependent)


def verify(
    units: Sequence[TargetContext],
    parallelism: int = DEFAULT_PARALLELISM,
    planned: Sequence[PlannedUnit] = (),
) -> Plan:
    """Re-read and re-plan after an apply; raise when anything still differs.

    Given the ``planned`` units of the apply, their clients are used again: the connections
    they hold stay open, so the re-read pays no new TCP and TLS handshakes to a far server.
    """
    fresh = [
        TargetContext(u.name, u.kind, u.spec, u.profile, u.selection, u.options) for u in units
    ]
    clients = {p.ctx.name: p.client for p in planned}
    plan, _ = plan_all(fresh, parallelism, clients)
    if not plan.empty:
        left = ", ".join(c.address for c in plan.pending)
        raise ConvergenceError(f"apply finished but these still differ from the profile: {left}")
    return plan

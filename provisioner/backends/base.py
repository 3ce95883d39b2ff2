"""The surface every backend offers, and the context it is given.

A backend turns a :class:`TargetContext` into changes and executes them::

    client  = backend.connect(ctx)                 # session, file root, ...; no requests yet
    prep    = backend.prepare(client, ctx)         # credentials, bootstrap changes (reads only)
    desired = backend.desired(ctx)                 # pure
    actual  = backend.read_actual(client, ctx, desired)
    changes = backend.plan(ctx, desired, actual)   # pure; table-tested
    backend.apply(client, change)                  # one change, in dependency order

``prepare`` returns bootstrap changes (fresh Nexus/Harbor) that the engine runs before anything
else of the target; while they are pending, ``read_actual`` must cope with a fresh instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from provisioner.backends import DEFAULT_PARALLELISM
from provisioner.plan import Change, Note
from provisioner.profile.model import Profile
from provisioner.selection import Selection

ClientT = TypeVar("ClientT")
DesiredT = TypeVar("DesiredT")
ActualT = TypeVar("ActualT")


@dataclass(frozen=True)
class Options:
    """Run-wide switches from the command line."""

    prune: bool = False  # delete resources this tool created that the profile no longer wants
    allow_replace: bool = False  # allow replacements that lose data (a Harbor proxy project)
    parallelism: int = DEFAULT_PARALLELISM


@dataclass
class TargetContext:
    """Everything a backend may look at for one target. ``spec`` is the target's profile model."""

    name: str
    kind: str
    spec: Any
    profile: Profile
    selection: Selection
    options: Options = field(default_factory=Options)
    notes: list[Note] = field(default_factory=list)

    @property
    def caches(self) -> list[str]:
        """The caches this target provisions, in profile order."""
        return self.profile.target_caches(self.name) if self.name in self.profile.targets else []

    def note(self, message: str, level: str = "info") -> None:
        self.notes.append(Note(self.name, message, level))


class Backend(Protocol, Generic[ClientT, DesiredT, ActualT]):
    kind: str

    def connect(self, ctx: TargetContext) -> ClientT: ...

    def prepare(self, client: ClientT, ctx: TargetContext) -> list[Change]: ...

    def desired(self, ctx: TargetContext) -> DesiredT: ...

    def read_actual(self, client: ClientT, ctx: TargetContext, desired: DesiredT) -> ActualT: ...

    def plan(self, ctx: TargetContext, desired: DesiredT, actual: ActualT) -> list[Change]: ...

    def apply(self, client: ClientT, change: Change) -> None: ...

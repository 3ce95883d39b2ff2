"""Plan values: what must change, as frozen data. Nothing here does I/O.

A backend compares a desired object with the actual one and returns :class:`Change` values. A
:class:`Plan` is the ordered collection of every target's changes plus notes (why an upstream
was chosen, which upstream is down). Renderers (text, JSON) and the executor read plans; only a
backend's ``apply`` turns a change into requests or file writes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner import secrets


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # delete then create: the resource cannot change in place
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "no-op": " "}[
            self.value
        ]


@dataclass(frozen=True)
class FieldDiff:
    """One managed field that differs. ``path`` is dotted (``proxy.remoteurl``)."""

    path: str
    old: Any
    new: Any
    sensitive: bool = False

    @property
    def masked(self) -> bool:
        return (
            self.sensitive or secrets.is_secret_text(self.old) or secrets.is_secret_text(self.new)
        )


@dataclass(frozen=True)
class Change:
    """A single resource change.

    ``address`` names the resource (``nexus.hq.repository.dockerhub-cf-worker``); ``depends_on``
    lists addresses that must be applied first (proxies before their group). ``before``/``after``
    are the managed fields only, for JSON output; ``payload`` is whatever the backend's ``apply``
    needs (never rendered). ``text_diff`` is a unified diff for generated files.
    ``sensitive_fields`` names fields of before/after that are secret.
    ``blocked`` (non-empty) says why this change may not run in this run and which flag allows
    it (a replacement that loses data without ``--replace``): ``diff`` shows it, and the engine
    refuses to start an apply that holds a blocked change, so nothing is written.
    """

    address: str
    action: Action
    target: str
    resource_type: str
    reason: str = ""
    diffs: tuple[FieldDiff, ...] = ()
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None
    sensitive_fields: frozenset[str] = frozenset()
    depends_on: tuple[str, ...] = ()
    text_diff: str | None = None
    payload: Any = field(default=None, compare=False, repr=False)
    blocked: str = ""

    @property
    def is_noop(self) -> bool:
        return self.action is Action.NOOP


@dataclass(frozen=True)
class Note:
    """Something the user should read with the plan (an upstream down, a switch, a warning)."""

    target: str | None
    message: str
    level: str = "info"  # info | warning


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    notes: tuple[Note, ...] = ()

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)

    @property
    def pending(self) -> tuple[Change, ...]:
        """The changes that do something (no no-ops)."""
        return tuple(c for c in self.changes if not c.is_noop)

    @property
    def empty(self) -> bool:
        return not self.pending

    def counts(self) -> tuple[int, int, int]:
        """(to add, to change, to destroy); a replace counts as one add and one destroy."""
        add = sum(c.action in (Action.CREATE, Action.REPLACE) for c in self.changes)
        change = sum(c.action is Action.UPDATE for c in self.changes)
        destroy = sum(c.action in (Action.DELETE, Action.REPLACE) for c in self.changes)
        return add, change, destroy

    def summary(self) -> str:
        if self.empty:
            return "No changes. Every target matches the profile."
        add, change, destroy = self.counts()
        return f"Plan: {add} to add, {change} to change, {destroy} to destroy."


def diff_fields(
    desired: Mapping[str, Any],
    actual: Mapping[str, Any] | None,
    sensitive: Iterable[str] = (),
    prefix: str = "",
) -> tuple[FieldDiff, ...]:
    """Differences in the fields ``desired`` sets (kopf's "right" scope): extra actual keys are
    ignored, nested mappings recurse, lists compare as whole values (order matters).

    Fields named in ``sensitive`` are write-only: their values are never compared (the server
    masks them); include a fingerprint field in ``desired`` to detect a change of secret.
    """
    secret = set(sensitive)
    actual = actual or {}
    out: list[FieldDiff] = []
    for key, want in desired.items():
        path = f"{prefix}{key}"
        if path in secret:
            continue
        have = actual.get(key)
        if isinstance(want, Mapping):
            out.extend(
                diff_fields(want, have if isinstance(have, Mapping) else {}, secret, f"{path}.")
            )
        elif want != have:
            out.append(FieldDiff(path, have, want))
    return tuple(out)


def update_or_noop(
    *,
    address: str,
    target: str,
    resource_type: str,
    desired: Mapping[str, Any],
    actual: Mapping[str, Any] | None,
    sensitive: Iterable[str] = (),
    depends_on: tuple[str, ...] = (),
    payload: Any = None,
    reason: str = "",
) -> Change:
    """CREATE when ``actual`` is None, UPDATE when managed fields differ, else NOOP."""
    secret = frozenset(sensitive)
    if actual is None:
        return Change(
            address,
            Action.CREATE,
            target,
            resource_type,
            reason or "does not exist",
            after=desired,
            sensitive_fields=secret,
            depends_on=depends_on,
            payload=payload,
        )
    diffs = diff_fields(desired, actual, secret)
    if not diffs:
        return Change(
            address,
            Action.NOOP,
            target,
            resource_type,
            before=desired,
            after=desired,
            sensitive_fields=secret,
        )
    return Change(
        address,
        Action.UPDATE,
        target,
        resource_type,
        reason,
        diffs,
        before=_project(actual, desired),
        after=desired,
        sensitive_fields=secret,
        depends_on=depends_on,
        payload=payload,
    )


def _project(actual: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """``actual`` reduced to the keys ``desired`` manages (what the user sees as "before")."""
    out: dict[str, Any] = {}
    for key, want in desired.items():
        have = actual.get(key)
        out[key] = (
            _project(have, want)
            if isinstance(want, Mapping) and isinstance(have, Mapping)
            else have
        )
    return out

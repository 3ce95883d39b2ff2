"""Generated files as resources: read, diff (unified), write atomically with the right mode.

Every file output of the tool (Registry configs, nginx and Worker sources, client configs) goes
through here, so they all plan the same way: a missing file is a create, different bytes or mode
an update shown as a unified diff, equal bytes and mode a no-op. Writes go to a temporary file in
the same directory, get their mode before they get their content, are fsynced and renamed over
the old file, so a reader never sees half a file and a secret is never world-readable.
"""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import ProvisionerError
from provisioner.plan import Action, Change, FieldDiff

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


@dataclass(frozen=True)
class FileSpec:
    """A file the profile wants. ``secret`` files are written 0600."""

    path: Path
    content: str
    secret: bool = False

    @property
    def mode(self) -> int:
        return SECRET_MODE if self.secret else PUBLIC_MODE


@dataclass(frozen=True)
class ActualFile:
    """A file as found on disk; ``content`` and ``mode`` are None when it does not exist."""

    path: Path
    content: str | None
    mode: int | None


def read_file(path: Path) -> ActualFile:
    try:
        st = path.stat()
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ActualFile(path, None, None)
    except UnicodeDecodeError:
        return ActualFile(path, "", stat.S_IMODE(path.stat().st_mode))
    except OSError as exc:
        raise ProvisionerError(f"cannot read {path}: {exc.strerror}") from None
    return ActualFile(path, content, stat.S_IMODE(st.st_mode))


def plan_file(
    spec: FileSpec,
    actual: ActualFile,
    target: str,
    address: str,
    depends_on: tuple[str, ...] = (),
    reason: str = "",
) -> Change:
    """The change that makes ``actual`` equal ``spec``."""
    if actual.content is None:
        diff = unified_diff("", spec.content, str(spec.path))
        return Change(
            address,
            Action.CREATE,
            target,
            "file",
            reason or "file does not exist",
            after={"path": str(spec.path), "mode": oct(spec.mode)},
            text_diff=diff,
            depends_on=depends_on,
            payload=spec,
        )
    diffs: list[FieldDiff] = []
    if actual.mode != spec.mode:
        diffs.append(FieldDiff("mode", oct(actual.mode or 0), oct(spec.mode)))
    if actual.content != spec.content:
        diffs.append(FieldDiff("content", "(old)", "(new)"))
    if not diffs:
        return Change(address, Action.NOOP, target, "file")
    text = unified_diff(actual.content, spec.content, str(spec.path))
    if actual.mode != spec.mode:
        text += f"    mode {oct(actual.mode or 0)} -> {oct(spec.mode)}\n"
    return Change(
        address,
        Action.UPDATE,
        target,
        "file",
        reason,
        tuple(diffs),
        before={"path": str(spec.path), "mode": oct(actual.mode or 0)},
        after={"path": str(spec.path), "mode": oct(spec.mode)},
        text_diff=text,
        depends_on=depends_on,
        payload=spec,
    )


def unified_diff(old: str, new: str, name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name.lstrip('/')}" if old else "/dev/null",
        tofile=f"b/{name.lstrip('/')}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def write_file(spec: FileSpec) -> None:
    """Write ``spec`` atomically: temp file in the same directory, chmod, fsync, rename."""
    directory = spec.path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{spec.path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ProvisionerError(f"cannot write {spec.path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, spec.mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(spec.content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, spec.path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ProvisionerError(f"cannot write {spec.path}: {exc.strerror}") from None


class FileBackend:
    """Base for backends whose resources are only files. Subclasses implement ``desired``.

    The client is nothing: files are local. ``desired`` returns ``{address: FileSpec}``.
    """

    kind = "files"

    def connect(self, ctx: object) -> None:
        return None

    def prepare(self, client: None, ctx: object) -> list[Change]:
        return []

    def read_actual(
        self, client: None, ctx: object, desired: dict[str, FileSpec]
    ) -> dict[str, ActualFile]:
        return {address: read_file(spec.path) for address, spec in desired.items()}

    def plan_files(
        self, target: str, desired: dict[str, FileSpec], actual: dict[str, ActualFile]
    ) -> list[Change]:
        return [
            plan_file(spec, actual[address], target, address) for address, spec in desired.items()
        ]

    def apply(self, client: None, change: Change) -> None:
        assert isinstance(change.payload, FileSpec)
        write_file(change.payload)

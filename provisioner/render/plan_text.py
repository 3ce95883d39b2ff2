"""A plan as Terraform-style text: ``+ create``, ``~ update``, ``- destroy``, ``-/+ replace``.

Secrets print as ``(sensitive)``: fields marked sensitive, and any value holding a registered
secret. The caller decides about colour (``NO_COLOR``, ``--no-color``, not a TTY).
"""

from __future__ import annotations

import json
from typing import Any

import click

from provisioner import secrets
from provisioner.plan import Action, Change, FieldDiff, Plan

COLOURS = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.DELETE: "red",
    Action.REPLACE: "magenta",
    Action.NOOP: None,
}
VERBS = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.DELETE: "will be destroyed",
    Action.REPLACE: "must be replaced",
}


def render_plan(plan: Plan, color: bool = False) -> str:
    """The whole plan: notes, one block per pending change, then the summary line."""
    lines: list[str] = []
    for note in plan.notes:
        prefix = "Warning: " if note.level == "warning" else ""
        where = f"[{note.target}] " if note.target else ""
        lines.append(_style(f"{prefix}{where}{note.message}", "yellow" if prefix else None, color))
    if plan.notes:
        lines.append("")
    for change in plan.pending:
        lines.extend(render_change(change, color))
        lines.append("")
    lines.append(_style(plan.summary(), None, color, bold=True))
    return secrets.redact("\n".join(lines)) + "\n"


def render_change(change: Change, color: bool = False) -> list[str]:
    colour = COLOURS[change.action]
    symbol = change.action.symbol
    head = f"{symbol} {change.address} {VERBS[change.action]}"
    if change.reason:
        head += f" ({change.reason})"
    lines = [_style(head, colour, color, bold=True)]
    if change.text_diff is not None:
        lines.extend(_diff_lines(change.text_diff, color))
    elif change.action is Action.CREATE and change.after is not None:
        lines.extend(_field_lines(change.after, change.sensitive_fields, "+", color))
    elif change.action is Action.DELETE and change.before is not None:
        lines.extend(_field_lines(change.before, change.sensitive_fields, "-", color))
    else:
        lines.extend(_render_diff(d, color) for d in change.diffs)
    return lines


def _render_diff(diff: FieldDiff, color: bool) -> str:
    if diff.masked:
        return _style(f"    ~ {diff.path}: {secrets.MASK}", "yellow", color)
    if diff.old is None:
        return _style(f"    + {diff.path}: {_value(diff.new)}", "green", color)
    if diff.new is None:
        return _style(f"    - {diff.path}: {_value(diff.old)}", "red", color)
    return _style(f"    ~ {diff.path}: {_value(diff.old)} -> {_value(diff.new)}", "yellow", color)


def _field_lines(
    values: Any, sensitive: frozenset[str], sign: str, color: bool, prefix: str = ""
) -> list[str]:
    lines: list[str] = []
    colour = "green" if sign == "+" else "red"
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in sensitive:
            lines.extend(_field_lines(value, sensitive, sign, color, f"{path}."))
            continue
        shown = (
            secrets.MASK if path in sensitive or secrets.is_secret_text(value) else _value(value)
        )
        lines.append(_style(f"    {sign} {path}: {shown}", colour, color))
    return lines


def _diff_lines(text: str, color: bool) -> list[str]:
    out = []
    for line in text.splitlines():
        colour = None
        if line.startswith("+") and not line.startswith("+++"):
            colour = "green"
        elif line.startswith("-") and not line.startswith("---"):
            colour = "red"
        elif line.startswith("@@"):
            colour = "cyan"
        out.append(_style(f"    {line}", colour, color))
    return out


def _value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def _style(text: str, colour: str | None, color: bool, bold: bool = False) -> str:
    if not color or (colour is None and not bold):
        return text
    return click.style(text, fg=colour, bold=bold)

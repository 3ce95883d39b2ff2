"""Render a plan as JSON modelled on ``terraform show -json``, with secrets masked.

Differs from Terraform on purpose: sensitive values are replaced by ``"(sensitive)"`` in
``before``/``after`` (Terraform prints them in clear), and ``before_sensitive``/``after_sensitive``
still say which fields were masked. ``format_version`` follows Terraform's rule: a minor bump only
adds fields; a major bump may break readers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from provisioner import __version__, secrets
from provisioner.plan import Action, Change, Plan

FORMAT_VERSION = "1.0"
_ACTIONS = {
    Action.CREATE: ["create"],
    Action.UPDATE: ["update"],
    Action.DELETE: ["delete"],
    Action.REPLACE: ["delete", "create"],
    Action.NOOP: ["no-op"],
}


def plan_to_json(plan: Plan) -> dict[str, Any]:
    add, change, destroy = plan.counts()
    return {
        "format_version": FORMAT_VERSION,
        "provisioner_version": __version__,
        "resource_changes": [_change(c) for c in plan.changes],
        "notes": [{"target": n.target, "level": n.level, "message": n.message} for n in plan.notes],
        "summary": {"add": add, "change": change, "destroy": destroy, "changes": not plan.empty},
    }


def render_plan_json(plan: Plan) -> str:
    return (
        secrets.redact(json.dumps(plan_to_json(plan), indent=2, ensure_ascii=False, default=str))
        + "\n"
    )


def _change(change: Change) -> dict[str, Any]:
    before, before_sensitive = _mask(change.before, change.sensitive_fields)
    after, after_sensitive = _mask(change.after, change.sensitive_fields)
    out: dict[str, Any] = {
        "address": change.address,
        "target": change.target,
        "type": change.resource_type,
        "change": {
            "actions": _ACTIONS[change.action],
            "before": before,
            "after": after,
            "before_sensitive": before_sensitive,
            "after_sensitive": after_sensitive,
        },
    }
    if change.reason:
        out["reason"] = change.reason
    if change.diffs:
        out["change"]["fields"] = [
            {
                "path": d.path,
                "before": secrets.MASK if d.masked else d.old,
                "after": secrets.MASK if d.masked else d.new,
                "sensitive": d.masked,
            }
            for d in change.diffs
        ]
    if change.text_diff is not None:
        out["change"]["diff"] = change.text_diff
    return out


def _mask(
    values: Mapping[str, Any] | None, sensitive: frozenset[str], prefix: str = ""
) -> tuple[Any, Any]:
    """(values with secrets masked, a same-shaped map of True where a value was masked)."""
    if values is None:
        return None, False
    masked: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in sensitive or secrets.is_secret_text(value):
            masked[key], flags[key] = (secrets.MASK if value is not None else None), True
        elif isinstance(value, Mapping):
            masked[key], sub = _mask(value, sensitive, f"{path}.")
            if sub:
                flags[key] = sub
        else:
            masked[key] = value
    return masked, flags

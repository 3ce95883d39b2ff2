"""Compose-style ``${VAR}`` interpolation of scalar string values (never of keys).

Supported forms: ``${VAR}`` (an unset variable is an error, unlike Compose's empty string),
``${VAR:-default}`` (default when unset or empty), ``${VAR-default}`` (default when unset),
``${VAR:?message}`` / ``${VAR?message}`` (error with the message), and ``$$`` for a literal
``$``. A ``$`` followed by anything else stays as it is. Every substituted value is registered
as a secret: PROFILE.md says values that came from a variable are sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from provisioner import secrets

_TOKEN = re.compile(r"\$(?:(?P<escape>\$)|\{(?P<body>[^}]*)\}|(?P<open>\{))")
_BODY = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?$", re.S)

Path_ = tuple[str | int, ...]


class InterpolationError(ValueError):
    def __init__(self, path: Path_, message: str) -> None:
        super().__init__(message)
        self.path = path


def interpolate(data: Any, env: Mapping[str, str], path: Path_ = ()) -> Any:
    """A copy of ``data`` with every string value interpolated from ``env``."""
    if isinstance(data, str):
        return interpolate_text(data, env, lambda msg: InterpolationError(path, msg))
    if isinstance(data, list):
        return [interpolate(v, env, (*path, i)) for i, v in enumerate(data)]
    if isinstance(data, dict):
        return {k: interpolate(v, env, (*path, k)) for k, v in data.items()}
    return data


def interpolate_text(text: str, env: Mapping[str, str], error: Callable[[str], Exception]) -> str:
    if "$" not in text:
        return text

    def substitute(match: re.Match[str]) -> str:
        if match.group("escape"):
            return "$"
        if match.group("open"):
            raise error("unclosed '${'; write $$ for a literal $")
        body = _BODY.match(match.group("body"))
        if body is None:
            raise error(f"bad variable reference ${{{match.group('body')}}}")
        name, op, arg = body.group("name"), body.group("op"), body.group("arg") or ""
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and unset_or_empty:
            return interpolate_text(arg, env, error)
        if op in (":?", "?") and unset_or_empty:
            raise error(f"variable {name} is required: {arg or 'not set'}")
        if value is None:
            raise error(f"variable {name} is not set (use ${{{name}:-default}} for a default)")
        secrets.register(value)
        return value

    return _TOKEN.sub(substitute, text)

"""Load a profile file: YAML with line numbers, interpolation, validation, secret registration.

Every failure is a :class:`ProfileError` whose text is one line:
``profile.yaml:12: targets.edge.listen: expected host:port such as 127.0.0.1:5000, got 'x'``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from provisioner import secrets
from provisioner.errors import ProfileError
from provisioner.profile import model as models
from provisioner.profile.interpolate import InterpolationError, interpolate
from provisioner.profile.model import FieldProblem, Profile, ReferenceProblem
from provisioner.profile.types import NAME_PATTERN
from provisioner.profile.yamlsource import Path_, YamlDocument, parse_yaml


def load_profile(path: str | Path, env: Mapping[str, str] | None = None) -> Profile:
    """Read, interpolate and validate the profile at ``path`` (``env`` defaults to os.environ)."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ProfileError("no such file", source) from None
    except IsADirectoryError:
        raise ProfileError("is a directory, expected a YAML file", source) from None
    except OSError as exc:
        raise ProfileError(f"cannot read: {exc.strerror}", source) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProfileError("not UTF-8 text", f"{source}:1") from None
    return parse_profile(text, source, env)


def parse_profile(
    text: str, source: str = "<profile>", env: Mapping[str, str] | None = None
) -> Profile:
    """Validate profile ``text``; ``source`` names it in error messages."""
    doc = parse_yaml(text, source)
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__ if doc.data is not None else "nothing"
        raise ProfileError(
            f"expected a mapping with 'version: 1' at the top, got {kind}", doc.where(())
        )
    version = doc.data.get("version", 1)
    if type(version) is not int or version != 1:  # `version: true` must not pass as 1
        raise ProfileError(
            f"unsupported version {_short(version)}; this tool reads version 1",
            doc.where(("version",)),
            "version",
        )
    try:
        data = interpolate(doc.data, os.environ if env is None else env)
    except InterpolationError as exc:
        raise ProfileError(str(exc), doc.where(exc.path), _dotted(exc.path)) from None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, doc) from None
    _register_secrets(profile)
    return profile


def _first_error(exc: ValidationError, doc: YamlDocument) -> ProfileError:
    error = exc.errors(include_url=False)[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ReferenceProblem):
        return ProfileError(cause.message, doc.where(cause.path), _dotted(cause.path))
    path, field_name = _data_path(error["loc"], doc.data)
    if isinstance(cause, FieldProblem):
        full = (*path, *cause.field)
        return ProfileError(cause.message, doc.where(full), _dotted(full))
    if error["type"] == "extra_forbidden" and field_name is None and path:
        field_name = str(path[-1])  # the unknown key exists in the data: name it
    shown = path if field_name is None or path[-1:] == (field_name,) else (*path, field_name)
    return ProfileError(_message(error, field_name), doc.where(shown), _dotted(shown))


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Path_, str | None]:
    """Split pydantic's ``loc`` into the path that exists in the data and a trailing field name.

    pydantic adds union member tags (``'registry'``, ``'str'``, ``'function-after[...]'``) to
    ``loc``; they are dropped by following only keys that really exist in the data.
    """
    path: list[str | int] = []
    node = data
    items = list(loc)
    for i, part in enumerate(items):
        if part == "[key]":
            return tuple(path), None
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif (
            i == len(items) - 1
            and isinstance(part, str)
            and isinstance(node, dict)
            and part in _field_names()
        ):
            return tuple(path), part  # a missing field (other trailing parts are union tags)
    return tuple(path), None


def _message(error: Any, field_name: str | None) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(field_name), sorted(_known_fields()), n=1)
        return "unknown key" + (f"; did you mean {hint[0]!r}?" if hint else "")
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        if pattern == NAME_PATTERN:
            return (
                f"bad name {error['input']!r}: names are lower-case letters, digits and '-', "
                "starting with a letter or digit"
            )
        return f"{_PATTERN_TEXT.get(pattern, 'does not match ' + pattern)}, got {error['input']!r}"
    if kind == "string_too_long":
        return f"at most {error['ctx']['max_length']} characters"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return "expected a number " + msg.removeprefix("Input should be ")
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind.startswith("literal_error"):
        return "expected " + msg.removeprefix("Input should be ")
    if kind == "model_type" or kind == "dict_type":
        return "expected a mapping of keys and values here"
    if kind == "list_type":
        return "expected a list here"
    if kind == "union_tag_not_found":
        return "required field 'kind' is missing"
    if kind == "union_tag_invalid":
        return f"unknown kind; expected one of {error['ctx']['expected_tags']}"
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


_PATTERN_TEXT = {
    models.PROBE_IMAGE_PATTERN: "expected an image reference such as library/busybox:latest",
    r"^\d{4}-\d{2}-\d{2}$": "expected a date such as 2025-01-01",
}
_PLAIN = {
    "model_attributes_type": "expected a mapping of keys and values here",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "string_type": "expected a string",
    "float_parsing": "expected a number",
    "path_type": "expected a file path",
    "too_short": "expected at least one item",
}

_KNOWN: set[str] = set()


def _field_names() -> set[str]:
    return _known_fields()


def _known_fields() -> set[str]:
    if not _KNOWN:
        for obj in vars(models).values():
            if isinstance(obj, type) and issubclass(obj, BaseModel):
                _KNOWN.update(obj.model_fields)
    return _KNOWN


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: a whole mapping must not fill the line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _register_secrets(value: Any) -> None:
    """Register every SecretStr in the validated profile with the redactor."""
    if isinstance(value, SecretStr):
        secrets.register(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _register_secrets(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            _register_secrets(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _register_secrets(item)

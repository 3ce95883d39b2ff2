"""Request-body binding for the fake Harbor, the way go-swagger binds before a handler runs.

Harbor's generated ``BindRequest`` (go-swagger) checks the content type, decodes the JSON into
the model and validates it; any failure is a ``CompositeValidationError`` that Harbor turns into
**422** ``UNPROCESSABLE_ENTITY`` "validation failure list:…" (§1, H:src/lib/http/error.go
``apiError``). The fake checks the same body against the official spec with
:func:`tests.fakes.spec.spec_errors` and reports every problem to the caller, so tests can assert
that a client never sends anything off-spec.

Two Go behaviours the JSON-Schema reading of the spec does not capture:

- ``null`` on a property marked ``x-nullable: true`` is a nil pointer, i.e. "not sent": it is
  dropped before validation and is no violation.
- ``null`` on any other property is accepted by Go too (the zero value), but it is a client bug
  by the spec's letter: it is reported as a violation and then dropped, and the request proceeds.

Properties the spec does not define are ignored by Go's decoder; they are reported separately
(``ignored``) because a field Harbor silently drops is usually a client mistake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .base import Request
from .harbor_common import HarborError, swagger_error
from .spec import HARBOR_SPEC, load_spec, spec_errors


@dataclass
class Bound:
    """The outcome of binding one body: the cleaned body and what was wrong with the original."""

    body: Any = None
    violations: list[str] = field(default_factory=list)  # off-spec: make a test fail
    ignored: list[str] = field(default_factory=list)  # unknown properties Harbor drops
    error: HarborError | None = None  # set when Harbor would answer 422 instead of running


def _definitions() -> dict[str, Any]:
    spec = load_spec(HARBOR_SPEC)
    defs: dict[str, Any] = spec["definitions"]
    return defs


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        return _resolve(_definitions()[ref.rsplit("/", 1)[1]])
    return schema


def _clean(schema: dict[str, Any], value: Any, path: str, out: Bound) -> Any:
    """Drop nulls (reporting the non-nullable ones) and note unknown properties, recursively."""
    schema = _resolve(schema)
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        cleaned: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}/{key}" if path else key
            sub = props.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is None:
                if props:  # a free-form object accepts anything
                    out.ignored.append(where)
                cleaned[key] = item
                continue
            if item is None:
                if not (sub.get("x-nullable") or _resolve(sub).get("x-nullable")):
                    out.violations.append(f"{where}: null on a non-nullable property")
                continue
            cleaned[key] = _clean(sub, item, where, out)
        return cleaned
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_clean(schema["items"], item, f"{path}/{i}", out) for i, item in enumerate(value)]
    return value


def bind_body(request: Request, definition: str, param: str, *, required: bool = True) -> Bound:
    """Bind ``request.body`` to ``definitions/<definition>`` as go-swagger would.

    ``param`` is the spec's body parameter name (``registry``, ``project``, ``password``), used in
    the error messages. The returned ``Bound.error`` is set when Harbor would answer 422.
    """
    out = Bound()
    if not request.body.strip():
        if required:
            out.violations.append(f"{param}: body is required")
            out.error = swagger_error(422, f"{param} in body is required")
        return out
    content_type = request.headers.get("content-type", "application/octet-stream")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json":
        out.violations.append(f"{param}: Content-Type {content_type!r} is not application/json")
        out.error = swagger_error(
            422, f'unsupported media type "{media}", only [application/json] are allowed')
        return out
    try:
        raw = json.loads(request.body)
    except ValueError as exc:
        out.violations.append(f"{param}: body is not JSON ({exc})")
        out.error = swagger_error(422, f'parsing {param} body from "" failed, because {exc}')
        return out
    schema = {"$ref": f"#/definitions/{definition}"}
    out.body = _clean(schema, raw, "", out)
    problems = spec_errors(HARBOR_SPEC, definition, out.body)
    if problems:
        out.violations.extend(f"{definition} {p}" for p in problems)
        out.error = swagger_error(422, *(f"{param}.{p}" for p in problems))
    return out

"""Wire format of the fake Nexus: request-body checks against the spec, and Nexus-shaped errors.

Every JSON body the fake accepts is checked against the schema the official spec
(``shared/specs/nexus-swagger.json``, Nexus 3.86.2 CE, Swagger 2.0) declares for that exact
operation: the ``in: body`` parameter of ``paths[<template>][<method>]``. Most operations point at
a ``#/definitions/...`` entry, checked with :func:`tests.fakes.spec.spec_errors`; two carry an
inline schema (``PUT /v1/security/realms/active``: array of strings, and change-password: a plain
string), checked here the same way (Draft 4, refs resolved against the whole spec).

Error bodies follow nexus.md §4:
- bean/JSON validation -> 400, a JSON *list* of ``ValidationErrorXO`` ``{"id","message"}`` with the
  media type ``application/vnd.siesta-validation-errors-v1+json``;
- any other failure of a repository create/update -> 400 whose body is a bare JSON *string literal*.
JSON is sent as raw UTF-8 (not ``\\u`` escapes), as Nexus does, so the EULA disclaimer's
typographic quotes reach the client as real UTF-8 bytes.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft4Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.fakes.base import Request, Response
from tests.fakes.spec import NEXUS_SPEC, load_spec, spec_errors

API_PREFIX = "/service/rest"
VALIDATION_MEDIA_TYPE = "application/vnd.siesta-validation-errors-v1+json"


def spec() -> dict[str, Any]:
    """The parsed Nexus 3.86.2 swagger document."""
    return load_spec(NEXUS_SPEC)


def body_schema(method: str, template: str) -> dict[str, Any] | None:
    """The schema of the body parameter of ``method template`` in the spec, or None if it has none.

    Raises KeyError when the spec has no such operation: the fake must not invent endpoints.
    """
    operation = spec()["paths"][template][method.lower()]
    for param in operation.get("parameters", []):
        if param.get("in") == "body":
            schema: dict[str, Any] = param["schema"]
            return schema
    return None


def definition_name(method: str, template: str) -> str:
    """Human name of the body schema: the definition name, or a description of the inline schema."""
    schema = body_schema(method, template)
    if schema is None:
        return "<no body>"
    ref = schema.get("$ref", "")
    if ref.startswith("#/definitions/"):
        return str(ref).removeprefix("#/definitions/")
    return f"<inline {json.dumps(schema, sort_keys=True)}>"


@functools.cache
def _inline_validator(schema_json: str) -> Draft4Validator:
    registry: Registry = Registry().with_resource("urn:nexus-spec", DRAFT4.create_resource(spec()))
    schema = json.loads(schema_json.replace('"#/definitions/', '"urn:nexus-spec#/definitions/'))
    return Draft4Validator(schema, registry=registry)


def body_errors(method: str, template: str, body: Any) -> list[str]:
    """Every way ``body`` breaks the spec's body schema of ``method template`` (empty: valid)."""
    schema = body_schema(method, template)
    if schema is None:
        return []
    ref = schema.get("$ref", "")
    if ref.startswith("#/definitions/"):
        return spec_errors(NEXUS_SPEC, ref.removeprefix("#/definitions/"), body)
    validator = _inline_validator(json.dumps(schema, sort_keys=True))
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<body>'}: {err.message}"
        for err in validator.iter_errors(body)
    ]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec()["definitions"][schema["$ref"].removeprefix("#/definitions/")]
    return schema


def unknown_fields(method: str, template: str, body: Any) -> list[str]:
    """Paths of object keys in ``body`` that the spec's schema does not declare.

    Swagger objects are open (no ``additionalProperties: false``), so these are not violations and
    Jackson in Nexus ignores them silently; they are still worth surfacing, because a field the
    server ignores is a setting the client believes it made (e.g. ``routingRuleName``, the GET
    name, sent where the request schema calls it ``routingRule``).
    """
    schema = body_schema(method, template)
    found: list[str] = []
    if schema is not None:
        _walk_unknown(schema, body, "", found)
    return found


def _walk_unknown(schema: dict[str, Any], value: Any, path: str, found: list[str]) -> None:
    schema = _resolve(schema)
    if isinstance(value, dict) and "properties" in schema:
        props: dict[str, Any] = schema["properties"]
        for key, sub in value.items():
            where = f"{path}/{key}" if path else key
            if key not in props:
                found.append(where)
            else:
                _walk_unknown(props[key], sub, where, found)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _walk_unknown(schema["items"], item, f"{path}/{index}", found)


# -- responses ----------------------------------------------------------------------------------


def json_response(
    payload: Any, status: int = 200, content_type: str = "application/json"
) -> Response:
    """A JSON response encoded as raw UTF-8, like Nexus's Jackson output."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": content_type})


def validation_error(*items: tuple[str, str]) -> Response:
    """400 with a list of ValidationErrorXO ``{"id","message"}`` (nexus.md §4, first bullet)."""
    payload = [{"id": ident, "message": message} for ident, message in items]
    return json_response(payload, 400, VALIDATION_MEDIA_TYPE)


def message_error(message: str, status: int = 400) -> Response:
    """An error whose body is a bare JSON string literal (nexus.md §4, second bullet)."""
    return json_response(message, status)


def empty(status: int) -> Response:
    """A response without a body (201 create, 204 update/delete, PUT-on-missing 404...)."""
    return Response(status, b"", {})


def unauthorized() -> Response:
    """401 as Nexus sends it for missing or wrong basic credentials."""
    return Response(
        401, b"", {"WWW-Authenticate": 'BASIC realm="Sonatype Nexus Repository Manager"'}
    )


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type header (no parameters), lower-cased; '' if absent."""
    return (header or "").split(";", 1)[0].strip().lower()


class Call:
    """One routed request as a handler sees it.

    ``params`` holds the path parameters, ``body`` the parsed JSON body (None when there is none),
    ``user`` the authenticated user id or None for an anonymous caller.
    """

    __slots__ = ("request", "params", "body", "user")

    def __init__(
        self, request: Request, params: dict[str, str], body: Any, user: str | None
    ) -> None:
        self.request = request
        self.params = params
        self.body = body
        self.user = user

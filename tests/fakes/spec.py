"""Validate request bodies against the official Swagger 2.0 specs in ../shared/specs.

Swagger 2.0 schema objects are close to JSON Schema draft-4, so each body is checked with
``Draft4Validator`` against one entry of the spec's ``definitions``, ``#/definitions/...`` refs
resolved against the whole spec document.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPECS_DIR = Path(__file__).resolve().parents[3] / "shared" / "specs"
NEXUS_SPEC = SPECS_DIR / "nexus-swagger.json"
HARBOR_SPEC = SPECS_DIR / "harbor-v2.0-swagger.yaml"


@functools.cache
def load_spec(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return doc


@functools.cache
def _validator(path: Path, definition: str) -> Draft4Validator:
    spec = load_spec(path)
    if definition not in spec.get("definitions", {}):
        raise KeyError(f"{definition} is not a definition in {path.name}")
    resource = Resource(contents=spec, specification=DRAFT4)
    registry: Registry = Registry().with_resource("urn:spec", resource)
    schema = {"$ref": f"urn:spec#/definitions/{definition}"}
    return Draft4Validator(schema, registry=registry)


def spec_errors(path: Path, definition: str, body: Any) -> list[str]:
    """Every way ``body`` breaks ``definitions/<definition>`` of the spec, as short messages."""
    validator = _validator(path, definition)
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<body>'}: {err.message}"
        for err in validator.iter_errors(body)
    ]

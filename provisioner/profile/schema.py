"""The profile's JSON Schema, draft-07 compatible (what yaml-language-server understands).

pydantic writes 2020-12 style ``$defs``; draft-07 tools know ``definitions``. The refs are plain
JSON pointers, so renaming the key and rewriting the refs is all the conversion needed.
"""

from __future__ import annotations

import json
from typing import Any

from provisioner.profile.model import Profile


def profile_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema(mode="validation")
    text = json.dumps(schema).replace('"#/$defs/', '"#/definitions/')
    schema = json.loads(text)
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "provisioner profile, version 1",
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schema_json() -> str:
    return json.dumps(profile_schema(), indent=2, sort_keys=False) + "\n"

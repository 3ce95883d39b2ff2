"""The committed JSON Schema matches the models, and every shipped profile is valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from provisioner.profile import load_profile
from provisioner.profile.schema import profile_schema, schema_json
from tests.conftest import REPO

PROFILES = sorted((REPO / "profiles").glob("*.yaml"))
ENV = {
    "HK_PROXY_PASSWORD": "x-pass",
    "NEXUS_PASSWORD": "Nexus-Pass-1",
    "HARBOR_PASSWORD": "Harbor-Pass-1",
}


def test_committed_schema_is_current() -> None:
    committed = (REPO / "provisioner.schema.json").read_text()
    assert committed == schema_json(), "run: provisioner schema > provisioner.schema.json"


def test_schema_is_draft7() -> None:
    schema = profile_schema()
    Draft7Validator.check_schema(schema)
    text = json.dumps(schema)
    for keyword in ("prefixItems", "unevaluatedProperties", "$defs"):
        assert keyword not in text


def test_quickstart_and_examples_exist() -> None:
    names = {p.name for p in PROFILES}
    assert {"quickstart.yaml", "registry.yaml", "full.yaml", "mirrors-cn.yaml"} <= names


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_profile_is_valid_and_has_modeline(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert path.read_text().startswith(
        "# yaml-language-server: $schema=../provisioner.schema.json\n"
    )
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    load_profile(path)
    data = yaml.safe_load(path.read_text())
    # The editor sees the raw file: interpolated strings are still strings there.
    errors = sorted(e.message for e in Draft7Validator(profile_schema()).iter_errors(data))
    assert errors == []

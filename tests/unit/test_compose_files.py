"""Every compose file in compose/, and the compose.yaml the Registry backend generates, is valid
against the Compose Specification's JSON Schema (/work/shared/specs/compose-spec.json).

The generated one comes from applying profiles/quickstart.yaml (the README's first command) in a
temporary directory, through the CLI, so the same run also checks that the quickstart applies.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, cli_command, subprocess_env

SPEC = Path("/work/shared/specs/compose-spec.json")
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def compose_files() -> list[Path]:
    return sorted(p for name in COMPOSE_NAMES for p in (REPO / "compose").rglob(name))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    if not SPEC.exists():
        pytest.skip(f"{SPEC} not found")
    schema = json.loads(SPEC.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def assert_valid(validator: jsonschema.Draft7Validator, path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, f"{path}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors)


def test_there_is_a_registry_compose_file() -> None:
    assert REPO / "compose" / "registry" / "compose.yaml" in compose_files()


@pytest.mark.parametrize("path", compose_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_repository_compose_file_is_valid(validator: jsonschema.Draft7Validator,
                                          path: Path) -> None:
    assert_valid(validator, path)


def test_generated_compose_file_is_valid(validator: jsonschema.Draft7Validator,
                                         tmp_path: Path) -> None:
    done = subprocess.run(cli_command("apply", str(REPO / "profiles" / "quickstart.yaml"), "-y"),
                          capture_output=True, text=True, cwd=tmp_path, env=subprocess_env(),
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    generated = tmp_path / "out" / "quickstart" / "registry" / "dockerhub" / "compose.yaml"
    assert_valid(validator, generated)
    # The repository's compose file mounts exactly what the quickstart generates.
    assert (tmp_path / "out" / "quickstart" / "registry" / "dockerhub" / "config.yml").exists()
    assert (tmp_path / "out" / "quickstart" / "clients" / "docker" / "daemon.json").exists()


def test_validator_rejects_a_broken_file(validator: jsonschema.Draft7Validator,
                                         tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  registry:\n    image: registry:2\n    ports: 5000\n")
    with pytest.raises(AssertionError, match="ports"):
        assert_valid(validator, broken)

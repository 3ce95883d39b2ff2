"""Fuzz the profile loader and validator: every input ends as a Profile or a one-line ProfileError.

The outcome check and the strategies live in :mod:`tests.reliability.fuzzing`; this file runs
a CI-sized sample (about 500 examples over four strategies). ``tests/reliability/figures.py``
runs 10,000 and prints the counts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.reliability import fuzzing
from tests.reliability.fuzzing import Finding, check_file, check_message, check_text

CI = settings(max_examples=125, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))


@CI
@given(fuzzing.yamlish_text())
def test_yamlish_text(text: str) -> None:
    check_text(text)


@CI
@given(fuzzing.random_structure())
def test_random_structure(text: str) -> None:
    check_text(text)


@CI
@given(fuzzing.mutated_profile())
def test_mutated_profile(text: str) -> None:
    check_text(text)


@CI
@given(fuzzing.raw_bytes())
def test_raw_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    check_file(data, tmp_path_factory.mktemp("fuzz") / "profile.yaml")


# Regressions the fuzzer found (each was a traceback or a multi-line message before the fix).
@pytest.mark.parametrize("text", [
    "version: 1\nx: \x00\n",  # a NUL: PyYAML's ReaderError spans two lines
    "version: 1\nupstreams:\n  \"a\\nb\": {kind: mirror, url: 'https://m.example'}\n",
    "version: 1\ncaches:\n  \"hub\\u2028x\": {upstreams: [a]}\n",
    "version: 1\n\"\\nkey\": 1\n",
    "version: 1\ntargets:\n  e:\n    kind: registry\n    output: \"\\0\"\n    listen: 5000\n",
    "version: 1\nprobe: {timeout: 1e400}\n",
    "version: 1\nprobe: {timeout: .nan}\n",
    "version: 1\nupstreams:\n  h: {kind: mirror, url: 'http://[::1'}\n",
    "version: 1\n? [a, b]\n: x\n",
    "a: &x [*x]\n",
])
def test_regressions(text: str) -> None:
    check_text(text)


def test_seed_profile_is_valid() -> None:
    import yaml

    assert check_text(yaml.safe_dump(fuzzing.SEED)) == "profile"


@pytest.mark.parametrize(("message", "ok"), [
    ("fuzz.yaml:3: caches.x: unknown key", True),
    ("fuzz.yaml:3: two\nlines", False),
    ("fuzz.yaml: no line", False),
    ("other.yaml:1: wrong file", False),
    ("fuzz.yaml:9: past the end", False),
])
def test_the_message_check_can_fail(message: str, ok: bool) -> None:
    if ok:
        check_message(message, "fuzz.yaml", 5)
    else:
        with pytest.raises(Finding):
            check_message(message, "fuzz.yaml", 5)


def test_a_file_that_vanished_is_still_one_line(tmp_path: Path) -> None:
    assert check_file(b"", tmp_path / "p.yaml") == "error"

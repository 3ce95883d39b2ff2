"""YAML reading: line numbers for every value, duplicate keys rejected, bombs stopped."""

from __future__ import annotations

import pytest

from provisioner.errors import ProfileError
from provisioner.profile.yamlsource import parse_yaml


def test_lines_of_keys_and_items() -> None:
    doc = parse_yaml(
        "version: 1\ncaches:\n  hub:\n    upstreams:\n      - a\n      - b\n", "p.yaml"
    )
    assert doc.data == {"version": 1, "caches": {"hub": {"upstreams": ["a", "b"]}}}
    assert doc.line_of(("caches", "hub")) == 3
    assert doc.line_of(("caches", "hub", "upstreams", 1)) == 6
    assert doc.line_of(("caches", "hub", "nope", "deeper")) == 3  # nearest known ancestor
    assert doc.where(()) == "p.yaml:1"


def test_dates_stay_strings_and_merge_keys_work() -> None:
    doc = parse_yaml(
        "base: &b {kind: mirror, url: x}\nm:\n  <<: *b\n  url: y\nd: 2025-01-01\n", "p"
    )
    assert doc.data["m"] == {"kind": "mirror", "url": "y"}
    assert doc.data["d"] == "2025-01-01"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "p:2: duplicate key 'a' (first defined on line 1)"),
        ("a:\n  b: 1\n  c: 2\n  b: 3\n", "p:4: duplicate key 'b' (first defined on line 2)"),
        ("a: !!set {x}\n", "p:1: YAML tag tag:yaml.org,2002:set is not allowed in a profile"),
        ("a: [1, 2\n", "p:2: not valid YAML: expected ',' or ']', but got '<stream end>'"),
    ],
)
def test_rejections(text: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_yaml(text, "p")
    assert str(info.value) == message

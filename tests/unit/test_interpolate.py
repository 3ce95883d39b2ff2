"""``${VAR}`` interpolation: Compose's syntax, but an unset variable is an error."""

from __future__ import annotations

import pytest

from provisioner import secrets
from provisioner.profile.interpolate import InterpolationError, interpolate

ENV = {"HOST": "hub.example", "EMPTY": "", "PASS": "s3cret-value"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("https://${HOST}", "https://hub.example"),
        ("${HOST}:${HOST}", "hub.example:hub.example"),
        ("$${HOST}", "${HOST}"),
        ("cost $$5", "cost $5"),
        ("a $ alone", "a $ alone"),
        ("$HOST stays", "$HOST stays"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY-fallback}", ""),
        ("${MISSING-fallback}", "fallback"),
        ("${HOST:?needed}", "hub.example"),
    ],
)
def test_substitutes(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${MISSING}", "variable MISSING is not set (use ${MISSING:-default} for a default)"),
        ("${MISSING:?set the mirror}", "variable MISSING is required: set the mirror"),
        ("${EMPTY:?no empty}", "variable EMPTY is required: no empty"),
        ("${MISSING?}", "variable MISSING is required: not set"),
        ("${1BAD}", "bad variable reference ${1BAD}"),
        ("${HOST", "unclosed '${'; write $$ for a literal $"),
        ("${}", "bad variable reference ${}"),
    ],
)
def test_errors_name_the_variable(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as info:
        interpolate({"a": [text]}, ENV)
    assert str(info.value) == message
    assert info.value.path == ("a", 0)


def test_keys_are_not_interpolated_and_values_are_registered_secret() -> None:
    data = interpolate({"${HOST}": {"password": "${PASS}"}, "n": 3}, ENV)
    assert data == {"${HOST}": {"password": "s3cret-value"}, "n": 3}
    assert secrets.redact("log: s3cret-value") == f"log: {secrets.MASK}"

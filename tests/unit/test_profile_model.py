"""The profile models: defaults and normalisation users rely on."""

from __future__ import annotations

import pytest

from provisioner.errors import ProfileError
from provisioner.profile import parse_profile
from provisioner.profile.model import DOCKER_HUB_URL, RegistryTarget
from provisioner.profile.types import format_duration, normalise_url, parse_duration

BASE = """version: 1
upstreams:
  hub: {kind: docker-hub}
  m: {kind: mirror, url: 'HTTPS://Mirror.Example.com/'}
caches:
  dockerhub: {upstreams: [m, hub]}
  ghcr: {mirrors: ghcr.io, upstreams: [hub]}
"""


def test_defaults_and_normalised_urls() -> None:
    profile = parse_profile(BASE, env={})
    assert profile.upstreams["hub"].endpoint == DOCKER_HUB_URL
    assert profile.upstreams["m"].endpoint == "https://mirror.example.com"
    assert profile.caches["dockerhub"].select == "first-healthy"
    assert profile.caches["dockerhub"].mirrors == "docker.io"
    assert profile.caches["dockerhub"].probe_image == "library/busybox:latest"
    assert profile.probe.timeout == 5.0


def test_registry_listen_map_and_target_caches() -> None:
    text = (
        BASE
        + """targets:
  edge:
    kind: registry
    output: out
    listen: {dockerhub: '127.0.0.1:5000', ghcr: 5001}
"""
    )
    profile = parse_profile(text, env={})
    assert isinstance(profile.targets["edge"], RegistryTarget)
    assert profile.target_caches("edge") == ["dockerhub", "ghcr"]
    assert profile.registry_listen("edge") == {
        "dockerhub": "127.0.0.1:5000",
        "ghcr": "0.0.0.0:5001",
    }


def test_passwords_are_secret_and_redacted_everywhere() -> None:
    from provisioner import secrets

    text = BASE.replace(
        "{kind: mirror, url: 'HTTPS://Mirror.Example.com/'}",
        "{kind: mirror, url: 'https://m.example', username: u, password: 'literal-pass-1'}",
    )
    profile = parse_profile(text, env={})
    assert "literal-pass-1" not in repr(profile)
    assert secrets.redact("x literal-pass-1 y") == f"x {secrets.MASK} y"


def test_frozen() -> None:
    profile = parse_profile(BASE, env={})
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type is internal
        profile.caches["dockerhub"].select = "fastest"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m30s", 90), ("250ms", 0.25), ("2h", 7200), (5, 5)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_duration_round_trip() -> None:
    assert [format_duration(s) for s in (30, 90, 0.25, 7200)] == ["30s", "90s", "250ms", "2h"]


@pytest.mark.parametrize("url", ["https://x.example/", "https://X.EXAMPLE", " https://x.example "])
def test_url_normalisation(url: str) -> None:
    assert normalise_url(url) == "https://x.example"


def test_quoted_version_string_is_rejected_with_a_clear_line() -> None:
    with pytest.raises(ProfileError, match=r"^p:1: version: unsupported version '1'"):
        parse_profile("version: '1'\n", "p", env={})

"""Desired Harbor state: names, markers, URL normalisation, metadata strings, profile checks."""

from __future__ import annotations

import pytest

from provisioner.backends.harbor import desired
from provisioner.errors import ProfileError
from provisioner.profile.load import parse_profile
from tests.unit.test_harbor_planner import PROFILE, ctx_for


def test_every_cache_gets_a_docker_registry_endpoint_at_its_active_upstream() -> None:
    built = desired.build(ctx_for(active={"dockerhub": "dockerhub"}))
    hub = built.endpoints["dockerhub"]
    # A docker-hub upstream is still a docker-registry endpoint (the type can never change).
    assert (hub.name, hub.type, hub.url) == ("provisioner-dockerhub", "docker-registry",
                                             "https://registry-1.docker.io")
    assert built.projects["dockerhub"].endpoint == "provisioner-dockerhub"
    assert built.projects["ghcr"].metadata == {"public": "true", "proxy_speed_kb": "2048"}


def test_marker_round_trips_and_carries_a_salted_fingerprint() -> None:
    built = desired.build(ctx_for())
    ghcr, hub = built.endpoints["ghcr"], built.endpoints["dockerhub"]
    marker = desired.parse_marker(ghcr.description)
    assert marker == desired.Marker("hq", "ghcr", ghcr.secret_fp)
    assert len(ghcr.secret_fp) == 16 and "Pull3rPass" not in ghcr.description
    assert desired.parse_marker(hub.description) == desired.Marker("hq", "dockerhub", "none")
    assert desired.parse_marker("made by hand") is None
    assert "secret=" not in desired.strip_secret(ghcr.description)


def test_long_cache_names_fit_harbors_64_characters() -> None:
    name = desired.endpoint_name("c" * 63)
    assert len(name) <= 64 and name.startswith("provisioner-")
    assert name != desired.endpoint_name("c" * 62 + "d")
    assert desired.endpoint_name("dockerhub") == "provisioner-dockerhub"


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://Hub.Example.xyz/", "https://hub.example.xyz"),
    ("hub.example.xyz", "http://hub.example.xyz"),
    ("https://x/prefix/?q=1", "https://x/prefix"),
    ("", ""),
])
def test_normalise_url_like_harbor(raw: str, expected: str) -> None:
    assert desired.normalise_url(raw) == expected


def test_update_body_is_flat_and_resends_the_secret() -> None:
    spec = desired.build(ctx_for()).endpoints["ghcr"]
    body = spec.update_body()
    assert "credential" not in body and "type" not in body
    assert body["access_secret"] == "Pull3rPass" and body["credential_type"] == "basic"
    assert spec.create_body()["credential"]["access_secret"] == "Pull3rPass"
    assert "name" not in spec.ping_body() and spec.ping_body()["type"] == "docker-registry"


BOOTSTRAP = PROFILE + "    bootstrap: {initial_password: Harbor12345}\n"


@pytest.mark.parametrize("weak", ["short1A", "alllowercase1", "ALLUPPER1", "NoDigitsHere",
                                  "Ünïcödé1x"])
def test_weak_password_with_bootstrap_is_a_profile_error(weak: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(BOOTSTRAP.replace("Adm1nPassw0rd", weak))
    text = str(caught.value)
    assert "targets.hq.password" in text and "upper-case" in text
    assert weak not in text


def test_weak_password_without_bootstrap_is_allowed() -> None:
    parse_profile(PROFILE.replace("Adm1nPassw0rd", "weak"))


def test_bootstrap_wait_defaults_to_five_minutes() -> None:
    target = parse_profile(BOOTSTRAP).targets["hq"]
    assert target.bootstrap is not None and target.bootstrap.wait == 300.0

"""Registry target: files from profile + selection + existing files (pure), golden output."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.backends.base import TargetContext
from provisioner.backends.files import ActualFile
from provisioner.backends.registry import CacheFiles, Existing, RegistryBackend
from provisioner.backends.registry.config import (
    InstanceSpec,
    render_compose,
    render_config,
    render_env,
)
from provisioner.plan import Action
from provisioner.profile import parse_profile
from provisioner.selection import Selection, listed_order
from tests.golden import assert_golden

PROFILE = """version: 1
upstreams:
  cf: {kind: cloudflare-worker, url: 'https://hub.example.xyz'}
  hk: {kind: nginx-proxy, url: 'https://mirror.example.com', username: puller,
       password: 'hk-secret-9'}
caches:
  dockerhub: {upstreams: [cf, hk]}
targets:
  edge: {kind: registry, output: /srv/out, listen: '127.0.0.1:5000'}
"""

SPEC = InstanceSpec(
    target="edge",
    cache="dockerhub",
    listen="127.0.0.1:5000",
    storage="/var/lib/registry",
    remote_url="https://mirror.example.com",
    http_secret="fixed-http-secret",
    username="puller",
    password="hk-secret-9",
    ttl=168 * 3600,
)


def test_golden_files() -> None:
    assert_golden("registry/config.yml", render_config(SPEC))
    assert_golden("registry/registry.env", render_env(SPEC) or "")
    assert_golden("registry/compose.yaml", render_compose(SPEC))
    assert "hk-secret-9" not in render_config(SPEC)


def test_inline_password_and_v3_compose() -> None:
    inline = InstanceSpec(**{**SPEC.__dict__, "password_inline": True, "image": "registry:3"})
    assert "password: hk-secret-9" in render_config(inline)
    assert render_env(inline) is None
    compose = render_compose(inline)
    assert "/etc/distribution/config.yml" in compose and "OTEL_TRACES_EXPORTER: none" in compose


def ctx(selection: Selection | None = None) -> TargetContext:
    profile = parse_profile(PROFILE, env={})
    return TargetContext(
        "edge", "registry", profile.targets["edge"], profile, selection or listed_order(profile)
    )


def existing(config: str | None) -> Existing:
    d = Path("/srv/out/dockerhub")
    files = {
        d / "config.yml": ActualFile(d / "config.yml", config, 0o644 if config else None),
        d / "registry.env": ActualFile(d / "registry.env", None, None),
        d / "compose.yaml": ActualFile(d / "compose.yaml", None, None),
    }
    remote = None
    if config and "remoteurl:" in config:
        remote = config.split("remoteurl:", 1)[1].split()[0]
    return Existing(files, {"dockerhub": "kept-secret"}, {"dockerhub": remote})


def plan(selection: Selection | None = None, config: str | None = None) -> dict[str, object]:
    backend = RegistryBackend()
    c = ctx(selection)
    changes = backend.plan(
        c, [CacheFiles("dockerhub", Path("/srv/out/dockerhub"))], existing(config)
    )
    return {ch.address.split("/")[-1]: ch for ch in changes} | {"notes": c.notes}


def test_fresh_plan_without_credentials_writes_config_and_compose() -> None:
    changes = plan()
    assert {k: v.action for k, v in changes.items() if k != "notes"} == {  # type: ignore[union-attr]
        "config.yml": Action.CREATE,
        "compose.yaml": Action.CREATE,
    }
    content = changes["config.yml"].payload.content  # type: ignore[union-attr]
    assert "remoteurl: https://hub.example.xyz" in content
    assert "secret: kept-secret" in content


def test_upstream_with_password_adds_a_secret_env_file() -> None:
    selection = Selection(active={"dockerhub": "hk"}, order={"dockerhub": ["hk", "cf"]})
    changes = plan(selection)
    env = changes["registry.env"].payload  # type: ignore[union-attr]
    assert env.secret and env.mode == 0o600
    assert env.content.endswith("REGISTRY_PROXY_PASSWORD=hk-secret-9\n")
    assert "hk-secret-9" not in changes["config.yml"].payload.content  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("active", "stranded", "current", "expected_remote", "warned"),
    [
        ("hk", frozenset(), None, "https://mirror.example.com", False),
        (
            "cf",
            frozenset({"dockerhub"}),
            "https://mirror.example.com",
            "https://mirror.example.com",
            True,
        ),
        ("cf", frozenset({"dockerhub"}), None, "https://hub.example.xyz", True),
    ],
    ids=["follows-active", "stranded-keeps-current", "stranded-fresh-uses-first"],
)
def test_remote_follows_selection(
    active: str, stranded: frozenset[str], current: str | None, expected_remote: str, warned: bool
) -> None:
    selection = Selection(
        active={"dockerhub": active}, order={"dockerhub": [active]}, stranded=stranded
    )
    config = f"proxy:\n  remoteurl: {current}\n" if current else None
    changes = plan(selection, config)
    assert f"remoteurl: {expected_remote}" in changes["config.yml"].payload.content  # type: ignore[union-attr]
    assert bool(changes["notes"]) is warned

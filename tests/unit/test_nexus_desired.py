"""Desired state of a Nexus target: names, bodies, member order, marker, name clashes."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner import secrets
from provisioner.backends.base import Options, TargetContext
from provisioner.backends.nexus import desired
from provisioner.errors import PlanError
from provisioner.profile.load import parse_profile
from provisioner.selection import Selection, listed_order

PROFILE = """
version: 1
probe: {{enabled: false}}
upstreams:
  cf-worker: {{kind: cloudflare-worker, url: https://hub.example.xyz}}
  hk-nginx: {{kind: nginx-proxy, url: https://mirror.example.com, username: puller, password: {pw}}}
  daocloud: {{kind: mirror, url: https://docker.m.daocloud.io/}}
  dockerhub: {{kind: docker-hub}}
  ghcr-direct: {{kind: registry, url: https://ghcr.io}}
caches:
  dockerhub:
    upstreams: [{hub}]
    select: {select}
  ghcr:
    mirrors: ghcr.io
    upstreams: [ghcr-direct]
targets:
  hq:
    kind: nexus
    url: http://127.0.0.1:9
    username: admin
    password: admin-password
{extra}
"""


def make_ctx(
    *,
    hub: str = "cf-worker, hk-nginx, daocloud, dockerhub",
    select: str = "first-healthy",
    extra: str = "    anonymous_pull: true",
    pw: str = "proxy-pass",
    selection: Selection | None = None,
    prune: bool = False,
) -> TargetContext:
    """A TargetContext for target ``hq`` of a profile with two caches (dockerhub, ghcr)."""
    profile = parse_profile(
        PROFILE.format(hub=hub, select=select, extra=extra, pw=pw), "t.yaml", env={}
    )
    return TargetContext(
        "hq",
        "nexus",
        profile.targets["hq"],
        profile,
        selection or listed_order(profile),
        Options(prune=prune),
    )


def test_names_and_order() -> None:
    state = desired.build(make_ctx())
    assert [r.name for r in state.repos] == [
        "dockerhub-cf-worker",
        "dockerhub-hk-nginx",
        "dockerhub-daocloud",
        "dockerhub-dockerhub",
        "ghcr-ghcr-direct",
        "dockerhub",
        "ghcr",
    ]
    group = state.repo("dockerhub")
    assert group is not None and group.rtype == "group"
    assert group.body["group"]["memberNames"] == [
        "dockerhub-cf-worker",
        "dockerhub-hk-nginx",
        "dockerhub-daocloud",
        "dockerhub-dockerhub",
    ]


@pytest.mark.parametrize(
    ("name", "index_type", "remote"),
    [
        ("dockerhub-dockerhub", "HUB", "https://registry-1.docker.io"),
        ("dockerhub-daocloud", "REGISTRY", "https://docker.m.daocloud.io"),
        ("ghcr-ghcr-direct", "REGISTRY", "https://ghcr.io"),
    ],
)
def test_proxy_index_and_remote(name: str, index_type: str, remote: str) -> None:
    repo = desired.build(make_ctx()).repo(name)
    assert repo is not None
    assert repo.body["dockerProxy"]["indexType"] == index_type
    assert repo.body["proxy"]["remoteUrl"] == remote


def test_failover_settings_and_anonymous() -> None:
    body = desired.build(make_ctx()).repo("dockerhub-cf-worker").body  # type: ignore[union-attr]
    assert body["httpClient"]["autoBlock"] is True
    assert body["httpClient"]["connection"]["timeout"] <= 20
    assert body["httpClient"]["connection"]["retries"] <= 1
    assert body["negativeCache"]["enabled"] is True
    assert body["docker"]["forceBasicAuth"] is False
    assert "authentication" not in body["httpClient"]
    closed = desired.build(make_ctx(extra="    anonymous_pull: false"))
    assert all(r.body["docker"]["forceBasicAuth"] is True for r in closed.repos)


def test_credentials_carry_a_fingerprint_not_the_password_in_the_managed_view() -> None:
    repo = desired.build(make_ctx()).repo("dockerhub-hk-nginx")
    assert repo is not None
    assert repo.body["httpClient"]["authentication"] == {
        "type": "username",
        "username": "puller",
        "password": "proxy-pass",
    }
    managed = repo.managed
    fingerprint = managed["httpClient"]["authentication"]["password"]
    assert fingerprint == secrets.fingerprint(
        "proxy-pass", "nexus.hq.repository.dockerhub-hk-nginx"
    )
    assert "proxy-pass" not in repr(managed)
    suffix = managed["httpClient"]["connection"]["userAgentSuffix"]
    assert suffix == "provisioner target=hq cache=dockerhub"
    other = desired.build(make_ctx(pw="changed-pass")).repo("dockerhub-hk-nginx")
    assert other is not None
    assert other.managed["httpClient"]["authentication"]["password"] != fingerprint


def test_routing_port_and_path() -> None:
    state = desired.build(make_ctx(extra="    ports: {dockerhub: 8082}\n    path_routing: false"))
    hub, ghcr = state.repo("dockerhub"), state.repo("ghcr")
    assert hub is not None and ghcr is not None
    assert hub.body["docker"] == {
        "v1Enabled": False,
        "forceBasicAuth": True,
        "pathEnabled": False,
        "httpPort": 8082,
    }
    assert "httpPort" not in ghcr.body["docker"]


def test_fastest_uses_the_probe_order_and_keeps_unranked_upstreams() -> None:
    ctx = make_ctx(
        select="fastest",
        selection=Selection(
            active={"dockerhub": "daocloud", "ghcr": "ghcr-direct"},
            order={"dockerhub": ["daocloud", "cf-worker"], "ghcr": ["ghcr-direct"]},
        ),
    )
    group = desired.build(ctx).repo("dockerhub")
    assert group is not None
    assert group.members == (
        "dockerhub-daocloud",
        "dockerhub-cf-worker",
        "dockerhub-hk-nginx",
        "dockerhub-dockerhub",
    )


def test_first_healthy_ignores_the_probe_order() -> None:
    ctx = make_ctx(
        selection=Selection(
            active={"dockerhub": "daocloud", "ghcr": "ghcr-direct"},
            order={"dockerhub": ["daocloud"], "ghcr": ["ghcr-direct"]},
        )
    )
    group = desired.build(ctx).repo("dockerhub")
    assert group is not None and group.members[0] == "dockerhub-cf-worker"


def test_name_clash_is_a_plan_error() -> None:
    profile = parse_profile(
        """
version: 1
upstreams:
  b-c: {kind: mirror, url: https://one.example}
  c: {kind: mirror, url: https://two.example}
caches:
  a: {upstreams: [b-c]}
  a-b: {upstreams: [c]}
targets:
  hq: {kind: nexus, url: http://127.0.0.1:9, username: admin, password: pw}
""",
        "t.yaml",
        env={},
    )
    ctx = TargetContext("hq", "nexus", profile.targets["hq"], profile, listed_order(profile))
    with pytest.raises(PlanError, match="'a-b-c'"):
        desired.build(ctx)


def test_shared_port_is_a_plan_error() -> None:
    with pytest.raises(PlanError, match="8082"):
        desired.build(make_ctx(extra="    ports: {dockerhub: 8082, ghcr: 8082}"))


def test_bodies_carry_no_nulls() -> None:
    """Optional values are omitted: the spec types them (integer, string), so null is invalid."""

    def walk(value: Any) -> None:
        assert value is not None
        if isinstance(value, dict):
            for item in value.values():
                walk(item)

    for repo in desired.build(make_ctx()).repos:
        walk(repo.body)


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        (None, (None, None)),
        ("", (None, None)),
        ("provisioner target=hq cache=hub", ("provisioner target=hq cache=hub", None)),
        (
            "provisioner target=hq cache=hub auth=abc123",
            ("provisioner target=hq cache=hub", "abc123"),
        ),
        ("someone-else", ("someone-else", None)),
    ],
)
def test_parse_marker(suffix: str | None, expected: tuple[str | None, str | None]) -> None:
    assert desired.parse_marker(suffix) == expected


@pytest.mark.parametrize(
    ("suffix", "cache"),
    [
        ("provisioner target=hq cache=hub auth=1", "hub"),
        ("provisioner target=team-b cache=hub", None),  # another target's: never ours
        ("provisioner cache=hub", None),  # no target named
        ("provisioner", None),
        ("other target=hq cache=hub", None),
        (None, None),
    ],
)
def test_marked_cache(suffix: str | None, cache: str | None) -> None:
    settings = {"httpClient": {"connection": {"userAgentSuffix": suffix}}}
    assert desired.marked_cache(settings, "hq") == cache

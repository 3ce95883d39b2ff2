"""Client configs: endpoint order and addressing per target kind (table-driven), every format
parsed by a real parser, modes, notes, and golden files for a profile with every target kind."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest
import yaml

from provisioner import engine
from provisioner.backends.base import Options, TargetContext
from provisioner.backends.files import write_file
from provisioner.errors import PlanError
from provisioner.plan import Action
from provisioner.profile import parse_profile
from provisioner.render.clients import ClientsBackend
from provisioner.render.mirrors import mirror_lists
from provisioner.selection import Selection, listed_order
from tests.golden import assert_golden

UPSTREAMS = """\
version: 1
probe: {enabled: false}
upstreams:
  cf: {kind: cloudflare-worker, url: 'https://hub.example.xyz'}
  hk: {kind: nginx-proxy, url: 'https://mirror.example.com', username: puller,
       password: 'hk-secret-9', insecure: true}
  daocloud: {kind: mirror, url: 'https://docker.m.daocloud.io'}
  dockerhub: {kind: docker-hub}
  ghcr-direct: {kind: registry, url: 'https://ghcr.io'}
  ghcr-mirror: {kind: mirror, url: 'https://ghcr.m.daocloud.io'}
caches:
  dockerhub: {upstreams: [cf, hk, daocloud, dockerhub]}
  ghcr: {mirrors: ghcr.io, upstreams: [ghcr-mirror, ghcr-direct]}
"""

FULL = UPSTREAMS + """\
targets:
  edge:
    kind: registry
    output: out/edge
    listen: {dockerhub: '127.0.0.1:5000', ghcr: '0.0.0.0:5001'}
  hq-nexus:
    kind: nexus
    url: http://nexus.internal:8081
    username: admin
    password: nexus-admin-pw
    ports: {dockerhub: 8082}
  hq-harbor:
    kind: harbor
    url: https://harbor.internal
    username: admin
    password: harbor-admin-pw
    insecure: true
    caches: [dockerhub]
clients:
  output: out/clients
"""


def ctx_for(text: str, selection: Selection | None = None) -> TargetContext:
    profile = parse_profile(text)
    units = engine.build_units(profile, selection or listed_order(profile), Options(), ["clients"])
    return units[0]


def rendered(ctx: TargetContext) -> dict[str, tuple[str, bool]]:
    """Relative path (under the clients output) -> (content, secret)."""
    output = ctx.spec.output
    return {str(spec.path.relative_to(output)): (spec.content, spec.secret)
            for spec in ClientsBackend().desired(ctx).values()}


def test_golden_full_profile() -> None:
    files = rendered(ctx_for(FULL))
    assert sorted(files) == [
        "containerd/certs.d/docker.io/hosts.toml",
        "containerd/certs.d/ghcr.io/hosts.toml",
        "docker/daemon.json",
        "k3s/registries.yaml",
        "podman/registries.conf.d/50-provisioner.conf",
    ]
    for path, (content, _) in files.items():
        assert_golden(f"clients/full/{path}", content)


def test_order_and_addresses_in_every_format() -> None:
    files = rendered(ctx_for(FULL))
    order = [
        "http://127.0.0.1:5000",                    # Registry: its listen address
        "http://nexus.internal:8082",               # Nexus: the group's connector port
        "https://harbor.internal/v2/dockerhub",     # Harbor: the project as a path prefix
        "https://hub.example.xyz",                  # then the upstreams, in the cache's order;
        "https://mirror.example.com",               # docker-hub itself is every client's
        "https://docker.m.daocloud.io",             # last resort, so it is not listed
    ]
    hosts = tomllib.loads(files["containerd/certs.d/docker.io/hosts.toml"][0])
    assert hosts["server"] == "https://registry-1.docker.io"
    assert list(hosts["host"]) == order
    harbor = hosts["host"]["https://harbor.internal/v2/dockerhub"]
    assert harbor == {"capabilities": ["pull", "resolve"], "override_path": True,
                      "skip_verify": True, "dial_timeout": "3s"}
    assert "skip_verify" not in hosts["host"]["http://127.0.0.1:5000"]
    k3s = yaml.safe_load(files["k3s/registries.yaml"][0])
    assert k3s["mirrors"]["docker.io"]["endpoint"] == order
    assert k3s["configs"] == {
        "harbor.internal": {"tls": {"insecure_skip_verify": True}},
        "mirror.example.com": {"auth": {"username": "puller", "password": "hk-secret-9"},
                               "tls": {"insecure_skip_verify": True}},
    }
    podman = tomllib.loads(files["podman/registries.conf.d/50-provisioner.conf"][0])
    docker_io = podman["registry"][0]
    assert [m["location"] for m in docker_io["mirror"]] == [
        "127.0.0.1:5000", "nexus.internal:8082", "harbor.internal/dockerhub",
        "hub.example.xyz", "mirror.example.com", "docker.m.daocloud.io"]
    assert [m.get("insecure", False) for m in docker_io["mirror"]] == [
        True, True, True, False, True, False]
    daemon = json.loads(files["docker/daemon.json"][0])
    assert daemon == {
        "registry-mirrors": ["http://127.0.0.1:5000", "http://nexus.internal:8082",
                             "https://hub.example.xyz", "https://mirror.example.com",
                             "https://docker.m.daocloud.io"],
        "insecure-registries": ["mirror.example.com"],
    }


def test_ghcr_cache_and_all_interfaces_listen() -> None:
    ctx = ctx_for(FULL)
    ghcr = [e.api_url for e in mirror_lists(ctx)["ghcr.io"]]
    # 0.0.0.0 becomes loopback; Nexus path routing is a /v2/<group> prefix; ghcr.io itself is
    # the registry's own endpoint (containerd's server), not a mirror.
    assert ghcr == ["http://127.0.0.1:5001", "http://nexus.internal:8081/v2/ghcr",
                    "https://ghcr.m.daocloud.io"]
    assert any("listens on all interfaces" in n.message for n in ctx.notes)
    hosts = tomllib.loads(rendered(ctx)["containerd/certs.d/ghcr.io/hosts.toml"][0])
    assert hosts["server"] == "https://ghcr.io"


def test_k3s_file_is_secret_only_with_credentials(tmp_path: Path) -> None:
    files = rendered(ctx_for(FULL))
    assert files["k3s/registries.yaml"][1] is True
    assert not any(secret for path, (_, secret) in files.items() if not path.startswith("k3s"))
    without = FULL.replace("username: puller,\n       password: 'hk-secret-9', ", "")
    assert rendered(ctx_for(without))["k3s/registries.yaml"][1] is False
    spec = next(s for s in ClientsBackend().desired(ctx_for(FULL)).values() if s.secret)
    write_file(type(spec)(tmp_path / "registries.yaml", spec.content, True))
    assert stat.S_IMODE((tmp_path / "registries.yaml").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("clients", "targets", "expected"),
    [
        pytest.param("{output: o, include_upstreams: false}",
                     "{e: {kind: registry, output: x, listen: '10.0.0.5:5000', "
                     "caches: [dockerhub]}}",
                     ["http://10.0.0.5:5000"], id="caches-only"),
        pytest.param("{output: o, addresses: {e: 'https://cache.example.com'}}",
                     "{e: {kind: registry, output: x, listen: '0.0.0.0:5000', "
                     "caches: [dockerhub]}}",
                     ["https://cache.example.com", "https://hub.example.xyz",
                      "https://mirror.example.com", "https://docker.m.daocloud.io"],
                     id="address-override"),
        pytest.param("{output: o, include_upstreams: false, "
                     "addresses: {n/dockerhub: 'https://n.example'}}",
                     "{n: {kind: nexus, url: 'http://n:8081', username: a, password: pwpw, "
                     "caches: [dockerhub]}}",
                     ["https://n.example/v2/dockerhub"], id="override-keeps-path-prefix"),
        pytest.param("{output: o, include_upstreams: false}",
                     "{n: {kind: nexus, url: 'http://n:8081', username: a, password: pwpw, "
                     "path_routing: false, caches: [dockerhub]}}",
                     [], id="nexus-without-address"),
        pytest.param("{output: o}", "{}",
                     ["https://hub.example.xyz", "https://mirror.example.com",
                      "https://docker.m.daocloud.io"], id="no-target-upstreams-only"),
    ],
)
def test_endpoint_table(clients: str, targets: str, expected: list[str]) -> None:
    ctx = ctx_for(UPSTREAMS + f"targets: {targets}\nclients: {clients}\n")
    assert [e.api_url for e in mirror_lists(ctx)["docker.io"]] == expected


def test_selection_order_decides_upstream_order() -> None:
    profile = parse_profile(UPSTREAMS + "clients: {output: o}\n")
    base = listed_order(profile)
    order = {**base.order, "dockerhub": ["daocloud", "cf", "hk", "dockerhub"]}
    ctx = ctx_for(UPSTREAMS + "clients: {output: o}\n",
                  Selection(active={**base.active, "dockerhub": "daocloud"}, order=order))
    assert [e.root for e in mirror_lists(ctx)["docker.io"]] == [
        "https://docker.m.daocloud.io", "https://hub.example.xyz", "https://mirror.example.com"]


def test_untrusted_upstreams_pull_by_digest_only() -> None:
    ctx = ctx_for(UPSTREAMS + "targets: {e: {kind: registry, output: x, listen: '127.0.0.1:5000', "
                  "caches: [dockerhub]}}\nclients: {output: o, trust_upstreams: false}\n")
    files = rendered(ctx)
    hosts = tomllib.loads(files["containerd/certs.d/docker.io/hosts.toml"][0])["host"]
    assert hosts["http://127.0.0.1:5000"]["capabilities"] == ["pull", "resolve"]
    assert hosts["https://hub.example.xyz"]["capabilities"] == ["pull"]
    mirrors = tomllib.loads(files["podman/registries.conf.d/50-provisioner.conf"][0])["registry"][0]
    assert [m.get("pull-from-mirror") for m in mirrors["mirror"]][:2] == [None, "digest-only"]


def test_path_prefixed_cache_is_noted_for_docker() -> None:
    ctx = ctx_for(FULL)
    rendered(ctx)
    assert any("harbor.internal/v2/dockerhub" in n.message and "daemon.json" in n.message
               for n in ctx.notes)


def test_unknown_address_key_is_a_plan_error() -> None:
    ctx = ctx_for(FULL.replace("  output: out/clients\n",
                               "  output: out/clients\n  addresses: {nope: 'https://x'}\n"))
    with pytest.raises(PlanError, match="'nope' names no target"):
        ClientsBackend().desired(ctx)


def test_only_requested_formats_are_written() -> None:
    ctx = ctx_for(FULL.replace("  output: out/clients\n",
                               "  output: out/clients\n  formats: [containerd]\n"))
    assert sorted(rendered(ctx)) == ["containerd/certs.d/docker.io/hosts.toml",
                                     "containerd/certs.d/ghcr.io/hosts.toml"]


def test_plan_create_then_noop_then_update(tmp_path: Path) -> None:
    text = FULL.replace("output: out/clients", f"output: {tmp_path / 'clients'}")
    backend = ClientsBackend()
    ctx = ctx_for(text)
    desired = backend.desired(ctx)
    changes = backend.plan(ctx, desired, backend.read_actual(None, ctx, desired))
    assert {c.action for c in changes} == {Action.CREATE}
    assert "clients.containerd/docker.io/hosts.toml" in {c.address for c in changes}
    for change in changes:
        backend.apply(None, change)
    again = backend.plan(ctx, desired, backend.read_actual(None, ctx, desired))
    assert all(c.is_noop for c in again)
    edited = ctx_for(text.replace("clients:\n", "clients:\n  dial_timeout: 1s\n"))
    update = [c for c in backend.plan(edited, backend.desired(edited),
                                      backend.read_actual(None, edited, backend.desired(edited)))
              if not c.is_noop]
    assert [c.address for c in update] == ["clients.containerd/docker.io/hosts.toml",
                                          "clients.containerd/ghcr.io/hosts.toml"]
    assert '-  dial_timeout = "3s"' in (update[0].text_diff or "")

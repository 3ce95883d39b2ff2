"""Generated client configs in use: skopeo with the generated registries.conf drop-in fails over
in the listed order (cache A down -> cache B; both caches down -> the upstream).

The mirrored registry is a dead loopback address (``127.0.0.1:<port>``) rather than docker.io,
so nothing can leave the machine even if every mirror failed.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_nginx_proxy import apply, assert_converged, start_generated_cache
from tests.support import HELLO_REF, HELLO_REPO
from tests.support.oci import LayoutImage, read_dir_image
from tests.support.ports import free_port
from tests.support.processes import Processes, RegistryProcess
from tests.support.skopeo import Skopeo

pytestmark = pytest.mark.e2e


def test_skopeo_follows_the_generated_mirror_order(
    origin_registry: RegistryProcess, oci_image: LayoutImage, processes: Processes,
    tmp_path: Path,
) -> None:
    primary, dead_cache, live_cache = free_port(), free_port(), free_port()
    registry = f"127.0.0.1:{primary}"
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"""\
version: 1
probe: {{enabled: false}}
upstreams:
  origin:
    kind: registry
    url: {origin_registry.url}
caches:
  hub:
    mirrors: "{registry}"
    upstreams: [origin]
targets:
  edge-a:                       # never started: the first entry is down
    kind: registry
    output: {tmp_path / "edge-a"}
    listen: 127.0.0.1:{dead_cache}
  edge-b:
    kind: registry
    output: {tmp_path / "edge-b"}
    listen: 127.0.0.1:{live_cache}
    storage: {tmp_path / "edge-b-data"}
clients:
  output: {tmp_path / "clients"}
""")
    apply(profile)
    clients = tmp_path / "clients"
    expected = [f"127.0.0.1:{dead_cache}", f"127.0.0.1:{live_cache}",
                origin_registry.url.removeprefix("http://")]

    # Every format lists the same order; each parses with a real parser.
    conf = (clients / "podman" / "registries.conf.d" / "50-provisioner.conf").read_text()
    entry = tomllib.loads(conf)["registry"][0]
    assert (entry["prefix"], entry["location"]) == (registry, registry)
    assert [m["location"] for m in entry["mirror"]] == expected
    assert all(m["insecure"] for m in entry["mirror"])
    hosts_toml = clients / "containerd" / "certs.d" / registry / "hosts.toml"
    hosts = tomllib.loads(hosts_toml.read_text())
    assert list(hosts["host"]) == [f"http://{e}" for e in expected]
    k3s = yaml.safe_load((clients / "k3s" / "registries.yaml").read_text())
    assert k3s["mirrors"][registry]["endpoint"] == [f"http://{e}" for e in expected]
    docker = json.loads((clients / "docker" / "daemon.json").read_text())
    assert docker == {"registry-mirrors": []}, "Docker mirrors apply to Docker Hub only"

    cache = start_generated_cache(processes, tmp_path / "edge-b" / "hub" / "config.yml", live_cache)
    skopeo = Skopeo(tmp_path / "skopeo", registries_conf=conf)
    ref = f"docker://{registry}/{HELLO_REF}"

    first = _pull(skopeo, ref, tmp_path / "first")
    assert read_dir_image(tmp_path / "first") == oci_image.content
    assert _tried(first) == expected[:2], first
    cache.wait_until_cached(HELLO_REPO, oci_image.blobs)

    cache.stop()  # now both caches are down: the upstream, listed third, serves the pull
    second = _pull(skopeo, ref, tmp_path / "second")
    assert read_dir_image(tmp_path / "second") == oci_image.content
    assert _tried(second) == expected, second
    assert_converged(profile)


def _pull(skopeo: Skopeo, ref: str, dest: Path) -> str:
    """``skopeo --debug copy`` with TLS checks as the generated config sets them; its stderr."""
    done = skopeo.run("--debug", "copy", "--authfile", str(skopeo.authfile), ref, f"dir:{dest}")
    return done.stderr


def _tried(debug: str) -> list[str]:
    """The registries skopeo tried, in order, from its debug log (first manifest request each)."""
    seen: list[str] = []
    for host in re.findall(r'Trying to access \\?"([^/"\\]+)/', debug):
        if host not in seen:
            seen.append(host)
    return seen

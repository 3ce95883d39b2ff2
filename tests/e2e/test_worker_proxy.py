"""The generated Cloudflare Worker, run by the real ``workerd`` runtime in front of the fake hub.

The Worker is the generated ``worker.js`` unchanged; its bindings are the generated
``wrangler.toml`` ``[vars]`` (the profile points them at the fake hub). Only the test's own capnp
config lets the Worker reach 127.0.0.1 (``internet`` service with ``allow = ["public", "local"]``),
as Cloudflare's network never would; the generated files carry no such setting.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import pytest

from tests.e2e.test_nginx_proxy import (
    apply,
    assert_converged,
    assert_relayed,
    http_request,
    start_generated_cache,
)
from tests.support import HELLO_REF, HELLO_REPO
from tests.support.fake_hub import FakeHub
from tests.support.oci import LayoutImage, read_dir_image
from tests.support.ports import free_port
from tests.support.processes import Process, Processes
from tests.support.skopeo import Skopeo, SkopeoError
from tests.support.tools import require

pytestmark = pytest.mark.e2e


def start_workerd(processes: Processes, worker_dir: Path, port: int, workdir: Path) -> Process:
    """Serve ``worker_dir/worker.js`` with the ``[vars]`` of ``worker_dir/wrangler.toml``."""
    binary = require("workerd")
    wrangler = tomllib.loads((worker_dir / "wrangler.toml").read_text())
    bindings = ",\n    ".join(f"(name = {json.dumps(k)}, text = {json.dumps(v)})"
                               for k, v in wrangler["vars"].items())
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.capnp"
    # capnp resolves an absolute embed path against its import path, so embed relatively.
    script = os.path.relpath(worker_dir / "worker.js", workdir)
    config.write_text(f"""\
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .relay),
    # Test only: let the Worker reach the fake hub on loopback (public addresses only by default).
    (name = "internet", network = (allow = ["public", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:{port}", http = (), service = "main")],
);

const relay :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "{script}")],
  compatibilityDate = {json.dumps(wrangler["compatibility_date"])},
  bindings = [
    {bindings}
  ],
);
""")
    proc = processes.start([binary, "serve", str(config), "--verbose"], name=f"workerd-{port}",
                           port=port)
    proc.wait_for_port(timeout=30)
    return proc


def worker_profile(tmp_path: Path, hub: FakeHub, worker_port: int, cache_port: int) -> Path:
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"""\
version: 1
probe: {{enabled: false}}
upstreams:
  cf-worker:
    kind: cloudflare-worker
    url: http://127.0.0.1:{worker_port}
    deploy:
      kind: cloudflare-worker
      output: {tmp_path / "worker"}
      registry: {hub.url}
      auth: {hub.auth.url}
      allow: [library]
caches:
  dockerhub:
    upstreams: [cf-worker]
targets:
  edge:
    kind: registry
    output: {tmp_path / "registry"}
    listen: 127.0.0.1:{cache_port}
    storage: {tmp_path / "cache-data"}
""")
    return profile


def test_generated_worker_files_hold_no_secret_or_local_access(
    fake_hub: FakeHub, tmp_path: Path,
) -> None:
    apply(worker_profile(tmp_path, fake_hub, free_port(), free_port()), "--target", "upstreams")
    wrangler = tomllib.loads((tmp_path / "worker" / "wrangler.toml").read_text())
    assert set(wrangler) == {"name", "main", "compatibility_date", "workers_dev", "vars"}
    assert wrangler["vars"] == {"UPSTREAM_REGISTRY": fake_hub.url,
                                "UPSTREAM_AUTH": fake_hub.auth.url,
                                "DOCKER_HUB_LIBRARY": "true", "ALLOW_PREFIXES": "library"}
    script = (tmp_path / "worker" / "worker.js").read_text()
    assert "127.0.0.1" not in script and "export default" in script


def test_worker_relays_pulls_with_library_insertion_and_redirects(
    fake_hub: FakeHub, oci_image: LayoutImage, skopeo_cli: Skopeo, processes: Processes,
    tmp_path: Path,
) -> None:
    port = free_port()
    apply(worker_profile(tmp_path, fake_hub, port, free_port()), "--target", "upstreams")
    workerd = start_workerd(processes, tmp_path / "worker", port, tmp_path / "workerd")

    status, headers, _ = http_request(port, "GET", "/v2/")
    assert status == 401, workerd.log_tail()
    assert headers["www-authenticate"] == (
        f'Bearer realm="http://127.0.0.1:{port}/token",service="registry.docker.io"')

    # A single-name image: library/ goes into the token scope and the path.
    status, _, body = http_request(port, "GET",
                                   "/token?service=registry.docker.io&scope=repository:hello:pull")
    assert status == 200, body
    token = json.loads(body)["token"]
    status, _, _ = http_request(port, "GET", "/v2/hello/manifests/1",
                                {"Authorization": f"Bearer {token}"})
    assert status == 200
    assert any(r.path == "/v2/library/hello/manifests/1" for r in fake_hub.requests("registry"))

    skopeo_cli.copy(f"127.0.0.1:{port}/hello:1", f"dir:{tmp_path / 'pulled'}")
    assert read_dir_image(tmp_path / "pulled") == oci_image.content, workerd.log_tail()
    assert_relayed(fake_hub, oci_image)


def test_worker_refuses_what_it_does_not_relay(
    fake_hub: FakeHub, skopeo_cli: Skopeo, processes: Processes, tmp_path: Path,
) -> None:
    port = free_port()
    apply(worker_profile(tmp_path, fake_hub, port, free_port()), "--target", "upstreams")
    start_workerd(processes, tmp_path / "worker", port, tmp_path / "workerd")

    status, headers, body = http_request(port, "GET", "/")
    assert status == 404 and headers["content-type"].startswith("text/plain")
    assert b"registry API (/v2/)" in body
    status, _, body = http_request(port, "GET", "/v2/_catalog")
    assert status == 404 and json.loads(body)["errors"][0]["code"] == "UNSUPPORTED"
    assert http_request(port, "DELETE", "/v2/library/hello/manifests/1")[0] == 405
    # The allow-list (library) holds for the registry API and for tokens alike.
    status, _, body = http_request(port, "GET", "/v2/someone/else/manifests/1")
    assert status == 403 and json.loads(body)["errors"][0]["code"] == "DENIED"
    status, _, _ = http_request(
        port, "GET", "/token?service=registry.docker.io&scope=repository:someone/else:pull")
    assert status == 403
    with pytest.raises(SkopeoError):
        skopeo_cli.inspect_digest(f"127.0.0.1:{port}/someone/else:1")
    assert not any("someone" in r.path for r in fake_hub.log), "denied requests reached the hub"


def test_registry_cache_pulls_through_worker(
    fake_hub: FakeHub, oci_image: LayoutImage, skopeo_cli: Skopeo, processes: Processes,
    tmp_path: Path,
) -> None:
    port, cache_port = free_port(), free_port()
    profile = worker_profile(tmp_path, fake_hub, port, cache_port)
    apply(profile)
    start_workerd(processes, tmp_path / "worker", port, tmp_path / "workerd")
    config = tmp_path / "registry" / "dockerhub" / "config.yml"
    assert f"remoteurl: http://127.0.0.1:{port}" in config.read_text()
    cache = start_generated_cache(processes, config, cache_port)

    skopeo_cli.copy(cache.ref(HELLO_REF), f"dir:{tmp_path / 'pulled'}")
    assert read_dir_image(tmp_path / "pulled") == oci_image.content, cache.log_tail()
    cache.wait_until_cached(HELLO_REPO, oci_image.blobs)
    assert_relayed(fake_hub, oci_image)
    assert_converged(profile)

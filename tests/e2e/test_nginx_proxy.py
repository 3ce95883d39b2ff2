"""The generated nginx relay, run by real nginx in front of the fake Docker Hub (reference §5, §7b).

Chain: skopeo -> [generated Registry cache ->] nginx (generated server) -> fake hub front
(token server, 307 to a storage host that rejects Authorization) -> real docker-registry origin.
nginx runs with a tiny wrapper main config (pid, logs and temp paths in the test's directory)
that includes the generated server file unchanged.

The helpers here (``apply``, ``start_generated_cache``, ``assert_relayed``) are also used by the
Worker tests.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from tests.conftest import cli_command, subprocess_env
from tests.support import HELLO_REF, HELLO_REPO
from tests.support.fake_hub import FakeHub
from tests.support.oci import LayoutImage, read_dir_image
from tests.support.ports import free_port
from tests.support.processes import Process, Processes, RegistryProcess, start_registry
from tests.support.skopeo import Skopeo
from tests.support.tools import require

pytestmark = pytest.mark.e2e


# -- helpers (shared with test_worker_proxy.py) ---------------------------------------------------


def apply(profile: Path, *extra: str) -> str:
    """``provisioner apply PROFILE -y``; returns stdout, fails the test with stderr on error."""
    done = subprocess.run(cli_command("apply", str(profile), "-y", *extra), capture_output=True,
                          text=True, env=subprocess_env(), cwd=profile.parent, timeout=120)
    assert done.returncode == 0, f"apply failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def assert_converged(profile: Path) -> None:
    """A second apply changes nothing and ``diff --detailed-exitcode`` says so (exit 0)."""
    assert "No changes." in apply(profile)
    done = subprocess.run(cli_command("diff", str(profile), "--detailed-exitcode"),
                          capture_output=True, text=True, env=subprocess_env(), cwd=profile.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def start_generated_cache(processes: Processes, config: Path, port: int) -> RegistryProcess:
    """Run the Registry cache config ``provisioner apply`` wrote (its upstream must be up)."""
    proc = start_registry(config, port, name=f"cache-{port}", log_dir=config.parent,
                          binary=require("docker-registry"))
    processes.add(proc)
    return proc


def assert_relayed(hub: FakeHub, image: LayoutImage) -> None:
    """Token flow ran, every blob was redirected, and storage never saw an Authorization."""
    assert any(r.path == "/token" and r.status == 200 for r in hub.requests("auth")), hub.log
    registry = hub.requests("registry")
    assert all(r.authorization == "Bearer" for r in registry if r.status in (200, 307)), registry
    redirected = {r.path.rsplit("/", 1)[1] for r in hub.redirects()}
    assert set(image.blobs) <= redirected, hub.log
    storage = hub.requests("storage")
    assert storage, "no blob was fetched from the storage host"
    assert all(r.status == 200 and r.authorization is None for r in storage), storage


def http_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                 tls: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One request to 127.0.0.1:port; returns (status, lower-cased headers, body)."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a throw-away self-signed test certificate
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=10, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


# -- nginx ----------------------------------------------------------------------------------------


def start_nginx(processes: Processes, server_conf: Path, port: int, workdir: Path) -> Process:
    """Run nginx with a wrapper main config that includes the generated ``server_conf``."""
    binary = require("nginx")
    workdir.mkdir(parents=True, exist_ok=True)
    temp = {name: workdir / "temp" / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    # As root, nginx would run its workers as 'nobody', which cannot enter pytest's 0700 tmp.
    user = "user root;\n" if os.geteuid() == 0 else ""
    wrapper = workdir / "nginx.conf"
    wrapper.write_text(
        f"{user}"
        f"pid {workdir / 'nginx.pid'};\n"
        f"error_log {workdir / 'error.log'} info;\n"
        "daemon off;\n"
        "worker_processes 1;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {workdir / 'access.log'};\n"
        f"    client_body_temp_path {temp['body']};\n"
        f"    proxy_temp_path {temp['proxy']};\n"
        f"    fastcgi_temp_path {temp['fastcgi']};\n"
        f"    uwsgi_temp_path {temp['uwsgi']};\n"
        f"    scgi_temp_path {temp['scgi']};\n"
        f"    include {server_conf};\n"
        "}\n"
    )
    argv = [binary, "-e", str(workdir / "error.log"), "-p", str(workdir), "-c", str(wrapper)]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx -t rejected the generated config:\n{check.stderr}"
    proc = processes.start(argv, name=f"nginx-{port}", port=port)
    proc.wait_for_port()
    return proc


def nginx_profile(tmp_path: Path, hub: FakeHub, nginx_port: int, cache_port: int,
                  tls: str = "") -> Path:
    profile = tmp_path / "profile.yaml"
    scheme = "https" if tls else "http"
    profile.write_text(f"""\
version: 1
probe: {{enabled: false}}
upstreams:
  hub-nginx:
    kind: nginx-proxy
    url: {scheme}://127.0.0.1:{nginx_port}
    deploy:
      kind: nginx
      output: {tmp_path / "nginx"}
      server_name: localhost
      listen: 127.0.0.1:{nginx_port}
      registry: {hub.url}
      auth: {hub.auth.url}
      resolver: 127.0.0.1
{tls}
caches:
  dockerhub:
    upstreams: [hub-nginx]
targets:
  edge:
    kind: registry
    output: {tmp_path / "registry"}
    listen: 127.0.0.1:{cache_port}
    storage: {tmp_path / "cache-data"}
""")
    return profile


def test_nginx_relays_token_flow_and_follows_blob_redirects(
    fake_hub: FakeHub, oci_image: LayoutImage, skopeo_cli: Skopeo, processes: Processes,
    tmp_path: Path,
) -> None:
    port = free_port()
    profile = nginx_profile(tmp_path, fake_hub, port, free_port())
    apply(profile)
    nginx = start_nginx(processes, tmp_path / "nginx" / "hub-nginx.conf", port, tmp_path / "run")

    status, headers, _ = http_request(port, "GET", "/v2/")
    assert status == 401
    assert headers["www-authenticate"] == (
        f'Bearer realm="http://127.0.0.1:{port}/token",service="registry.docker.io"')
    status, headers, body = http_request(port, "GET", "/")
    assert (status, headers["content-type"]) == (404, "text/plain")
    assert b"registry API (/v2/)" in body
    assert http_request(port, "DELETE", "/v2/library/hello/manifests/1")[0] == 403

    skopeo_cli.copy(f"127.0.0.1:{port}/{HELLO_REF}", f"dir:{tmp_path / 'pulled'}")
    assert read_dir_image(tmp_path / "pulled") == oci_image.content, nginx.log_tail()
    assert_relayed(fake_hub, oci_image)
    access = (tmp_path / "run" / "access.log").read_text()
    assert "GET /token?" in access, "skopeo must have fetched its token through nginx"
    # The 307s were consumed inside nginx: the client saw 200 for every blob.
    blob_lines = [line for line in access.splitlines() if "/blobs/sha256:" in line]
    assert blob_lines and all('" 200 ' in line for line in blob_lines), blob_lines


def test_registry_cache_pulls_through_nginx(
    fake_hub: FakeHub, oci_image: LayoutImage, skopeo_cli: Skopeo, processes: Processes,
    tmp_path: Path,
) -> None:
    port, cache_port = free_port(), free_port()
    profile = nginx_profile(tmp_path, fake_hub, port, cache_port)
    apply(profile)
    start_nginx(processes, tmp_path / "nginx" / "hub-nginx.conf", port, tmp_path / "run")
    config = tmp_path / "registry" / "dockerhub" / "config.yml"
    assert f"remoteurl: http://127.0.0.1:{port}" in config.read_text()
    cache = start_generated_cache(processes, config, cache_port)

    skopeo_cli.copy(cache.ref(HELLO_REF), f"dir:{tmp_path / 'pulled'}")
    assert read_dir_image(tmp_path / "pulled") == oci_image.content, cache.log_tail()
    assert skopeo_cli.inspect_digest(cache.ref(HELLO_REF)) == oci_image.digest
    cache.wait_until_cached(HELLO_REPO, oci_image.blobs)
    assert_relayed(fake_hub, oci_image)
    assert_converged(profile)


def test_nginx_serves_tls_with_the_configured_certificate(
    fake_hub: FakeHub, processes: Processes, tmp_path: Path,
) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found (needed to make a test certificate)")
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    cert.parent.mkdir()
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    port = free_port()
    tls = f"      tls_certificate: {cert}\n      tls_key: {key}"
    profile = nginx_profile(tmp_path, fake_hub, port, free_port(), tls=tls)
    apply(profile, "--target", "upstreams")
    start_nginx(processes, tmp_path / "nginx" / "hub-nginx.conf", port, tmp_path / "run")

    status, headers, _ = http_request(port, "GET", "/v2/", tls=True)
    assert status == 401
    assert f'realm="https://127.0.0.1:{port}/token"' in headers["www-authenticate"]
    status, _, body = http_request(port, "GET", "/token?service=registry.docker.io", tls=True)
    assert status == 200 and b'"token"' in body

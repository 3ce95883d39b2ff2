"""The Registry target end to end, with real parts only: docker-registry and skopeo on 127.0.0.1.

The profile's upstream is a real origin registry; ``provisioner apply`` writes the cache's
config.yml; ``docker-registry serve`` runs it; skopeo pulls through it; the origin dies; the
cached image still pulls. A second test keeps the upstream password in the 0600 env file and
pulls from an upstream that refuses anonymous tokens.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import yaml

from tests.conftest import cli_command
from tests.support import HELLO_REF, HELLO_REPO
from tests.support.fake_hub import FakeHub
from tests.support.oci import LayoutImage, read_dir_image
from tests.support.ports import free_port
from tests.support.processes import Processes
from tests.support.registry import RegistryProcess, registry_env
from tests.support.skopeo import Skopeo
from tests.support.tools import require


def write_profile(tmp_path: Path, upstream_url: str, port: int, credentials: str = "") -> Path:
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        f"""version: 1
probe: {{enabled: false}}
upstreams:
  origin:
    kind: registry
    url: {upstream_url}
{credentials}
caches:
  dockerhub:
    upstreams: [origin]
targets:
  edge:
    kind: registry
    output: {tmp_path / "out"}
    listen: 127.0.0.1:{port}
    storage: {tmp_path / "cache-data"}
"""
    )
    return profile


def provisioner(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def start_cache(
    config: Path, port: int, processes: Processes, env: dict[str, str] | None = None
) -> RegistryProcess:
    require("docker-registry")
    proc = RegistryProcess(
        config, port, name="cache", log_dir=config.parent, env={**registry_env(), **(env or {})}
    )
    processes.add(proc)
    proc.start()
    proc.wait_for_http(f"{proc.url}/v2/")
    return proc


def test_pull_through_generated_cache_survives_origin_death(
    tmp_path: Path,
    origin_registry: RegistryProcess,
    oci_image: LayoutImage,
    skopeo_cli: Skopeo,
    processes: Processes,
) -> None:
    port = free_port()
    profile = write_profile(tmp_path, origin_registry.url, port)

    before = provisioner("diff", str(profile), "--detailed-exitcode")
    assert before.returncode == 2, before.stderr
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in before.stdout
    applied = provisioner("apply", str(profile), "-y")
    assert applied.returncode == 0, applied.stderr
    after = provisioner("diff", str(profile), "--detailed-exitcode")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "No changes." in after.stdout

    config = tmp_path / "out" / "dockerhub" / "config.yml"
    document = yaml.safe_load(config.read_text())
    assert document["proxy"] == {"remoteurl": origin_registry.url}
    assert document["http"]["addr"] == f"127.0.0.1:{port}"

    cache = start_cache(config, port, processes)
    first = tmp_path / "pull-1"
    skopeo_cli.copy(f"docker://{cache.ref(HELLO_REF)}", f"dir:{first}")
    assert read_dir_image(first) == oci_image.content
    cache.wait_until_cached(HELLO_REPO, oci_image.blobs)

    origin_registry.stop()
    second = tmp_path / "pull-2"
    skopeo_cli.copy(f"docker://{cache.ref(HELLO_REF)}", f"dir:{second}")
    assert read_dir_image(second) == oci_image.content
    assert skopeo_cli.inspect_digest(cache.ref(HELLO_REF)) == oci_image.digest


def test_upstream_password_stays_out_of_config(
    tmp_path: Path,
    origin_registry: RegistryProcess,
    oci_image: LayoutImage,
    skopeo_cli: Skopeo,
    processes: Processes,
) -> None:
    password = "Pr0xy-Secret-4711"
    hub = FakeHub(
        origin_registry.url, username="puller", password=password, require_auth=True
    ).start()
    try:
        port = free_port()
        creds = "    username: puller\n    password: ${HUB_PASSWORD}\n"
        profile = write_profile(tmp_path, hub.url, port, creds)
        applied = provisioner("apply", str(profile), "-y", env={"HUB_PASSWORD": password})
        assert applied.returncode == 0, applied.stderr
        assert password not in applied.stdout + applied.stderr

        directory = tmp_path / "out" / "dockerhub"
        assert password not in (directory / "config.yml").read_text()
        env_file = directory / "registry.env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert env_file.read_text().splitlines()[-1] == f"REGISTRY_PROXY_PASSWORD={password}"

        env = dict(
            line.split("=", 1)
            for line in env_file.read_text().splitlines()
            if line and not line.startswith("#")
        )
        cache = start_cache(directory / "config.yml", port, processes, env)
        out = tmp_path / "pull"
        skopeo_cli.copy(f"docker://{cache.ref(HELLO_REF)}", f"dir:{out}")
        assert read_dir_image(out) == oci_image.content
        assert hub.tokens_issued(), "the cache must have fetched a token with the credentials"
    finally:
        hub.stop()

"""Smoke tests of the real-process harness (tests/support): if these fail, every e2e test will.

They also pin down the Distribution 2.8 behaviours the product relies on: a pull-through cache
serves what it holds after its upstream dies, refuses to start while its upstream is down, and
works against a Docker-Hub-shaped upstream (token flow, blobs redirected to a storage host that
rejects forwarded credentials).
"""

from __future__ import annotations

import http.client
import re
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support import HELLO_REF, HELLO_REPO, ONLY_B_REF
from tests.support.fake_hub import FakeHub
from tests.support.oci import LayoutImage, build_image, read_dir_image
from tests.support.ports import free_port, is_listening
from tests.support.processes import Process, ProcessError
from tests.support.registry import Registries, RegistryProcess
from tests.support.skopeo import Skopeo, SkopeoError
from tests.support.tools import require

pytestmark = pytest.mark.e2e


# -- pure-Python parts ----------------------------------------------------------------------------


def test_oci_layout_is_deterministic(tmp_path: Path) -> None:
    first = build_image(tmp_path / "a", "1", "same content\n")
    second = build_image(tmp_path / "b", "1", "same content\n")
    other = build_image(tmp_path / "a", "2", "other content\n")
    assert first == second, "same content must give the same manifest digest"
    assert other != first
    index = (tmp_path / "a" / "index.json").read_text()
    assert '"org.opencontainers.image.ref.name":"1"' in index
    assert '"org.opencontainers.image.ref.name":"2"' in index, "a second ref extends the layout"


def test_free_ports_are_distinct_and_unused() -> None:
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert not any(is_listening(p) for p in ports)


def test_require_skips_locally_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-tool"):
        require("no-such-tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require("no-such-tool")


def test_process_stop_escalates_and_takes_the_whole_group(tmp_path: Path) -> None:
    # A parent that ignores SIGTERM and leaves a child behind: stop() must SIGKILL both and reap.
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = Process([sys.executable, "-c", script], name="stubborn", log_dir=tmp_path)
    with proc:
        deadline = time.monotonic() + 10
        # The log's first line echoes the command, so match the printed line, not the word.
        while not (found := re.search(r"^child (\d+)$", proc.log_text(), re.M)):
            assert time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.02)
        child_pid = int(found[1])
        started = time.monotonic()
        assert proc.stop(grace=0.3) == -signal.SIGKILL
        assert time.monotonic() - started < 5
    assert not proc.running
    deadline = time.monotonic() + 5
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child_pid), "the child left in the process group must be killed too"
    assert "stubborn.log" in proc.log_tail()


def test_process_reports_early_exit_with_log_tail(tmp_path: Path) -> None:
    proc = Process(
        [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"],
        name="early",
        log_dir=tmp_path,
        port=free_port(),
    )
    with proc, pytest.raises(ProcessError, match=r"(?s)exited with code 3.*boom: bad config"):
        proc.wait_for_port(timeout=10)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphan is reaped by init, not by us)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- origin and Distribution cache ----------------------------------------------------------------


def test_origin_push_and_pull_back(
    origin_registry: RegistryProcess, oci_image: LayoutImage, skopeo_cli: Skopeo, tmp_path: Path
) -> None:
    ref = origin_registry.ref(HELLO_REF)
    assert skopeo_cli.inspect_digest(ref) == oci_image.digest
    skopeo_cli.copy(ref, f"dir:{tmp_path / 'pulled'}")
    assert read_dir_image(tmp_path / "pulled") == oci_image.content


def test_cache_pulls_through_and_serves_after_origin_stops(
    origin_registry: RegistryProcess,
    registries: Registries,
    oci_image: LayoutImage,
    skopeo_cli: Skopeo,
    tmp_path: Path,
) -> None:
    cache = registries.cache(origin_registry.url)
    ref = cache.ref(HELLO_REF)

    skopeo_cli.copy(ref, f"dir:{tmp_path / 'first'}")
    assert read_dir_image(tmp_path / "first") == oci_image.content
    assert skopeo_cli.inspect_digest(ref) == oci_image.digest
    assert "Registry configured as a proxy cache" in cache.log_text()

    # The proxy stores blobs from a second, background fetch; wait for it before killing the origin.
    cache.wait_until_cached(HELLO_REPO, oci_image.blobs)
    origin_registry.stop()
    assert not origin_registry.running

    skopeo_cli.copy(ref, f"dir:{tmp_path / 'second'}")
    assert read_dir_image(tmp_path / "second") == oci_image.content, cache.log_tail()
    assert skopeo_cli.inspect_digest(ref) == oci_image.digest

    # Not cached and no origin: 404 MANIFEST_UNKNOWN, not a 5xx (clients fall back on 404).
    with pytest.raises(SkopeoError, match="(?i)manifest unknown"):
        skopeo_cli.inspect_digest(cache.ref(ONLY_B_REF))


def test_cache_refuses_to_start_while_its_remote_is_down(registries: Registries) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ProcessError, match="panic") as info:
        registries.cache(dead)
    assert "exited with code 2" in str(info.value)


# -- fake Docker Hub ------------------------------------------------------------------------------


def _assert_hub_flow(hub: FakeHub, image: LayoutImage) -> None:
    """The token flow ran, every blob went through a 307, storage never saw credentials."""
    registry = hub.requests("registry")
    assert any(r.path == "/v2/" and r.status == 401 for r in registry), registry
    assert any(r.status == 200 and r.path == "/token" for r in hub.requests("auth"))
    assert all(r.authorization == "Bearer" for r in registry if r.status in (200, 307))
    redirected = {r.path.rsplit("/", 1)[1] for r in hub.redirects()}
    assert set(image.blobs) <= redirected, hub.log
    storage = hub.requests("storage")
    assert storage and all(r.status == 200 and r.authorization is None for r in storage), storage


def test_skopeo_pulls_from_fake_hub(
    fake_hub: FakeHub, oci_image: LayoutImage, skopeo_cli: Skopeo, tmp_path: Path
) -> None:
    skopeo_cli.copy(fake_hub.ref(HELLO_REF), f"dir:{tmp_path / 'pulled'}")
    assert read_dir_image(tmp_path / "pulled") == oci_image.content
    _assert_hub_flow(fake_hub, oci_image)

    # The storage server behaves like S3/R2 towards a client that forwards its token.
    location = fake_hub.redirects()[0].location
    assert location is not None
    target = urlsplit(location)
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=5)
    try:
        conn.request("GET", f"{target.path}?{target.query}", headers={"Authorization": "Bearer x"})
        answer = conn.getresponse()
        assert (answer.status, b"Missing x-amz-content-sha256" in answer.read()) == (400, True)
    finally:
        conn.close()


def test_cache_pulls_through_fake_hub(
    fake_hub: FakeHub,
    registries: Registries,
    oci_image: LayoutImage,
    skopeo_cli: Skopeo,
    tmp_path: Path,
) -> None:
    cache = registries.cache(fake_hub.url)
    skopeo_cli.copy(cache.ref(HELLO_REF), f"dir:{tmp_path / 'pulled'}")
    assert read_dir_image(tmp_path / "pulled") == oci_image.content, cache.log_tail()
    assert skopeo_cli.inspect_digest(cache.ref(HELLO_REF)) == oci_image.digest
    _assert_hub_flow(fake_hub, oci_image)
    cache.wait_until_cached(HELLO_REPO, oci_image.blobs)


def test_fake_hub_with_credentials(
    origin_registry: RegistryProcess,
    registries: Registries,
    oci_image: LayoutImage,
    skopeo_cli: Skopeo,
) -> None:
    with FakeHub(origin_registry.url, username="puller", password="s3cret:#x") as hub:
        with pytest.raises(SkopeoError):
            skopeo_cli.inspect_digest(hub.ref(HELLO_REF))
        with pytest.raises(SkopeoError):
            skopeo_cli.inspect_digest(hub.ref(HELLO_REF), creds="puller:wrong")
        assert (
            skopeo_cli.inspect_digest(hub.ref(HELLO_REF), creds="puller:s3cret:#x")
            == oci_image.digest
        )

        cache = registries.cache(hub.url, username="puller", password="s3cret:#x")
        assert skopeo_cli.inspect_digest(cache.ref(HELLO_REF)) == oci_image.digest, cache.log_tail()
        assert any(r.authorization == "Basic" and r.status == 200 for r in hub.requests("auth"))

"""Fixtures for end-to-end tests with real processes on 127.0.0.1 (see tests/support/).

Every process a fixture or test starts through ``processes``/``registries`` is stopped at teardown.
Function-scoped registries mean a test may stop or kill its origin freely (start-up is ~30 ms,
SIGTERM shutdown ~20 ms, so isolation costs little). Logs stay in the test's ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import HELLO_REF, ONLY_B_REF
from tests.support.fake_hub import FakeHub
from tests.support.oci import LayoutImage, build_layout_image
from tests.support.processes import Processes
from tests.support.registry import Registries, RegistryProcess
from tests.support.skopeo import Skopeo
from tests.support.tools import require

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything under tests/e2e is an e2e test, marked or not, so `-m "not e2e"` is reliable.
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def oci_image(tmp_path_factory: pytest.TempPathFactory) -> LayoutImage:
    """The test image: layout ref ``1``, one file ``hello.txt``; pushed as ``library/hello:1``."""
    layout = tmp_path_factory.mktemp("oci") / "layout"
    return build_layout_image(layout, "1", "hello from the origin\n")


@pytest.fixture(scope="session")
def oci_image_b(tmp_path_factory: pytest.TempPathFactory) -> LayoutImage:
    """A second, different image (``library/only-b:1``), held only by ``origin_registry_b``."""
    layout = tmp_path_factory.mktemp("oci-b") / "layout"
    return build_layout_image(layout, "only-b", "only on origin B\n")


@pytest.fixture(scope="session")
def skopeo_cli(tmp_path_factory: pytest.TempPathFactory) -> Skopeo:
    """skopeo with a private auth file, registries.conf and policy."""
    return Skopeo(tmp_path_factory.mktemp("skopeo"))


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start arbitrary processes (nginx, workerd, the CLI...) that are all stopped at teardown."""
    procs = Processes(tmp_path / "logs")
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture
def registries(tmp_path: Path, processes: Processes) -> Registries:
    """Factory: ``registries.origin()`` and ``registries.cache(remoteurl)`` on free ports."""
    require("docker-registry")
    return Registries(tmp_path / "registries", processes)


@pytest.fixture
def origin_registry(
    registries: Registries, oci_image: LayoutImage, skopeo_cli: Skopeo
) -> RegistryProcess:
    """A running origin holding ``library/hello:1`` (= ``oci_image``). The test may stop it."""
    origin = registries.origin("origin-a")
    skopeo_cli.push(oci_image.layout, oci_image.ref, origin.ref(HELLO_REF))
    return origin


@pytest.fixture
def origin_registry_b(
    registries: Registries, oci_image_b: LayoutImage, skopeo_cli: Skopeo
) -> RegistryProcess:
    """A second origin with only ``library/only-b:1`` (``oci_image_b``): tells upstreams apart."""
    origin = registries.origin("origin-b")
    skopeo_cli.push(oci_image_b.layout, oci_image_b.ref, origin.ref(ONLY_B_REF))
    return origin


@pytest.fixture
def fake_hub(origin_registry: RegistryProcess) -> Iterator[FakeHub]:
    """A Docker-Hub-shaped front (token server, 307 to storage) over ``origin_registry``."""
    hub = FakeHub(origin_registry.url).start()
    try:
        yield hub
    finally:
        hub.stop()

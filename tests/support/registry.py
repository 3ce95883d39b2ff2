"""CNCF Distribution (``docker-registry``) for end-to-end tests: configs, start-up, cache checks.

:func:`write_origin_config` and :func:`write_proxy_config` write minimal Distribution configs bound
to 127.0.0.1 (the shape of reference §1.1, hand-written so tests do not depend on the product's
renderer); :func:`start_registry` runs ``docker-registry serve`` and waits for ``/v2/``;
:class:`Registries` starts origins and caches on free ports for a fixture.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from .ports import free_port
from .processes import DEFAULT_READY_TIMEOUT, Process, ProcessError, Processes
from .tools import find, require

DOCKER_REGISTRY = "/usr/bin/docker-registry"


class RegistryProcess(Process):
    """A running ``docker-registry serve``; ``host`` (``127.0.0.1:<port>``) is for image refs."""

    def __init__(
        self,
        config_path: Path,
        port: int,
        *,
        binary: str | None = None,
        name: str | None = None,
        log_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        argv = [binary or find("docker-registry") or DOCKER_REGISTRY, "serve", str(config_path)]
        super().__init__(argv, name=name, log_dir=log_dir, env=env, port=port)
        self.config_path = config_path

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ref(self, repository: str) -> str:
        """Image reference on this registry, e.g. ``ref("library/hello:1")``."""
        return f"{self.host}/{repository}"

    @property
    def storage_root(self) -> Path:
        """``storage.filesystem.rootdirectory`` from the config."""
        config = yaml.safe_load(self.config_path.read_text())
        return Path(config["storage"]["filesystem"]["rootdirectory"])

    def has_blob(self, repository: str, digest: str) -> bool:
        """True when the blob is stored and linked into ``repository`` (filesystem layout)."""
        algo, hexpart = digest.split(":", 1)
        v2 = self.storage_root / "docker" / "registry" / "v2"
        data = v2 / "blobs" / algo / hexpart[:2] / hexpart / "data"
        link = v2 / "repositories" / repository / "_layers" / algo / hexpart / "link"
        return data.is_file() and link.is_file()

    def wait_until_cached(
        self, repository: str, digests: Sequence[str], timeout: float = DEFAULT_READY_TIMEOUT
    ) -> None:
        """Wait until a pull-through cache has stored every blob in ``digests`` for ``repository``.

        A Distribution proxy streams a blob to the client and stores it from a *second* fetch in a
        background goroutine, so a pull can finish before the cache holds the blob. A test that
        stops the upstream right after a pull must wait here first, or it races that goroutine.
        """
        missing = list(digests)

        def ready() -> bool:
            missing[:] = [d for d in missing if not self.has_blob(repository, d)]
            return not missing

        try:
            self._wait(ready, f"blobs of {repository} in {self.storage_root}", timeout)
        except ProcessError as exc:
            raise ProcessError(f"{exc}\nstill missing: {missing}") from None


def registry_env() -> dict[str, str]:
    """The environment for docker-registry: ours minus ``REGISTRY_*`` and OpenTelemetry settings.

    Distribution reads ``REGISTRY_<SECTION>_<KEY>`` as config overrides, so a stray variable in
    the developer's shell would silently change what the test runs.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["OTEL_TRACES_EXPORTER"] = "none"  # v3 would otherwise try localhost:4318
    return env


def start_registry(
    config_path: Path | str,
    port: int,
    *,
    name: str | None = None,
    log_dir: Path | str | None = None,
    binary: str | None = None,
    timeout: float = DEFAULT_READY_TIMEOUT,
) -> RegistryProcess:
    """Run ``docker-registry serve config_path`` and wait until ``GET /v2/`` on ``port`` answers.

    ``port`` must be the one in the config's ``http.addr``. The log goes to ``log_dir``
    (default: a fresh temporary directory). If the registry exits during start-up (bad config; a
    proxy whose remote is down panics), ProcessError is raised with its log tail and the process is
    reaped. The caller owns the returned process and must stop it (it is a context manager).
    """
    config_path = Path(config_path)
    proc = RegistryProcess(
        config_path,
        port,
        binary=binary,
        name=name or f"registry-{port}",
        log_dir=log_dir or config_path.parent,
        env=registry_env(),
    )
    proc.start()
    try:
        proc.wait_for_http(f"{proc.url}/v2/", timeout=timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


def _registry_config(
    root: Path,
    port: int,
    debug_port: int | None,
    service: str,
    proxy: Mapping[str, str] | None = None,
) -> str:
    # Hand-written YAML mirroring reference §1.1, so what is tested is a known-good minimal config
    # rather than the product's own renderer.
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "  fields:",
        f"    service: {service}",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root}",
        "  delete:",
        "    enabled: true",
        "  cache:",
        "    blobdescriptor: inmemory",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: {secrets.token_hex(16)}",
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
    ]
    if debug_port is not None:
        lines += ["  debug:", f"    addr: 127.0.0.1:{debug_port}"]
    if proxy:
        lines.append("proxy:")
        lines += [f"  {key}: {_yaml_str(value)}" for key, value in proxy.items()]
    return "\n".join(lines) + "\n"


def _yaml_str(value: str) -> str:
    # Double-quoted JSON strings are valid YAML and survive ':' and '#' in URLs and passwords.
    return json.dumps(value)


def write_origin_config(
    directory: Path | str,
    port: int,
    *,
    debug_port: int | None = None,
    name: str = "config.yml",
) -> Path:
    """Write a plain, filesystem-backed Distribution config serving on 127.0.0.1:``port``.

    Storage goes to ``<directory>/data``. ``debug_port`` adds a debug server
    (``/debug/health``, ``/debug/vars``) on 127.0.0.1; None leaves it out. Returns the config path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(_registry_config(directory / "data", port, debug_port, "origin"))
    return path


def write_proxy_config(
    directory: Path | str,
    port: int,
    remoteurl: str,
    *,
    username: str | None = None,
    password: str | None = None,
    debug_port: int | None = None,
    name: str = "config.yml",
) -> Path:
    """Write a minimal pull-through cache config (reference §1.1) with ``proxy.remoteurl``.

    Same layout as :func:`write_origin_config`, plus a ``proxy`` section. Note that Distribution
    2.8 panics at start-up when ``remoteurl`` does not answer ``GET /v2/``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    proxy = {"remoteurl": remoteurl}
    if username is not None:
        proxy["username"] = username
    if password is not None:
        proxy["password"] = password
    path = directory / name
    path.write_text(_registry_config(directory / "data", port, debug_port, "cache", proxy))
    return path


def new_registry(
    directory: Path | str,
    *,
    remoteurl: str | None = None,
    username: str | None = None,
    password: str | None = None,
    debug: bool = False,
    name: str | None = None,
) -> RegistryProcess:
    """Write a config on free ports in ``directory`` and start it: an origin, or a cache of
    ``remoteurl``. Convenience over the functions above; the caller stops the result."""
    port = free_port()
    debug_port = free_port() if debug else None
    if remoteurl is None:
        config = write_origin_config(directory, port, debug_port=debug_port)
    else:
        config = write_proxy_config(
            directory, port, remoteurl, username=username, password=password, debug_port=debug_port
        )
    return start_registry(config, port, name=name, log_dir=directory)


class Registries:
    """Starts origin and cache registries in sub-directories of ``base``, tracked in ``processes``.

    Every registry it starts is stopped by ``processes.stop_all()``.
    """

    def __init__(self, base: Path | str, processes: Processes) -> None:
        self.base = Path(base)
        self.processes = processes
        self._count = 0

    def _dir(self, name: str) -> Path:
        self._count += 1
        return self.base / f"{self._count:02d}-{name}"

    def origin(self, name: str = "origin", *, debug: bool = False) -> RegistryProcess:
        """A fresh, empty, filesystem-backed registry on a free port."""
        return self._start(self._dir(name), name, None, None, None, debug)

    def cache(
        self,
        remoteurl: str,
        name: str = "cache",
        *,
        username: str | None = None,
        password: str | None = None,
        debug: bool = False,
    ) -> RegistryProcess:
        """A pull-through cache of ``remoteurl`` (which must be up: 2.8 panics otherwise)."""
        return self._start(self._dir(name), name, remoteurl, username, password, debug)

    def _start(
        self,
        directory: Path,
        name: str,
        remoteurl: str | None,
        username: str | None,
        password: str | None,
        debug: bool,
    ) -> RegistryProcess:
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        debug_port = free_port() if debug else None
        if remoteurl is None:
            config = write_origin_config(directory, port, debug_port=debug_port)
        else:
            config = write_proxy_config(
                directory,
                port,
                remoteurl,
                username=username,
                password=password,
                debug_port=debug_port,
            )
        binary = require("docker-registry")
        # start_registry stops the process itself when start-up fails, so tracking it only on
        # success loses nothing.
        proc = start_registry(config, port, name=f"{name}-{port}", log_dir=directory, binary=binary)
        self.processes.add(proc)
        return proc

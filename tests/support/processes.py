"""Child processes for end-to-end tests: start, wait until ready, stop, and show the log on failure.

A :class:`Process` runs one command in its own process group with stdout and stderr going to a log
file, so a failing test can show what the program said (:meth:`Process.log_tail`). It is a context
manager; leaving the block stops it with SIGTERM, then SIGKILL after a grace period, and always
reaps it. Every started process is also tracked module-wide and killed at interpreter exit, as a
last resort should a fixture finaliser itself fail.

Registry helpers: :func:`write_origin_config` and :func:`write_proxy_config` write Distribution
configs bound to 127.0.0.1, and :func:`start_registry` runs ``docker-registry serve`` and waits for
``/v2/`` to answer.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import yaml

from .ports import free_port
from .tools import find, require

DEFAULT_READY_TIMEOUT = 15.0
DEFAULT_STOP_GRACE = 5.0
DOCKER_REGISTRY = "/usr/bin/docker-registry"


class ProcessError(RuntimeError):
    """A child did not become ready, or exited when it should not have. Carries the log tail."""


class Process:
    """One child process with a log file; see the module docstring.

    ``port`` is the TCP port the process is expected to serve on, when there is one; it is only
    informational (``url``) until a ``wait_for_*`` method checks it.
    """

    _live: set[Process] = set()

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        log_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        port: int | None = None,
        stop_grace: float = DEFAULT_STOP_GRACE,
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="provisioner-e2e-"))
        self.log_path = self.log_dir / f"{self.name}.log"
        self.env = dict(env) if env is not None else None
        self.cwd = Path(cwd) if cwd else None
        self.port = port
        self.stop_grace = stop_grace
        self.popen: subprocess.Popen[bytes] | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Process:
        """Start the command; returns self. Does not wait for readiness (see ``wait_for_*``)."""
        if self.popen is not None:
            raise ProcessError(f"{self.name} already started")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                # Own process group: stop() signals the group, so helpers the program forks
                # (nginx workers) go too, and a Ctrl-C in the terminal does not reach it twice.
                start_new_session=True,
            )
        Process._live.add(self)
        return self

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise ProcessError(f"{self.name} not started")
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` for a process that was given a port."""
        if self.port is None:
            raise ProcessError(f"{self.name} has no port")
        return f"http://127.0.0.1:{self.port}"

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; reap. Returns the exit code.

        Safe to call twice and on a process that already exited.
        """
        if self.popen is None:
            return None
        grace = self.stop_grace if grace is None else grace
        try:
            if self.popen.returncode is None:  # not reaped yet
                self._signal(signal.SIGTERM)
                if not self._exited_unreaped(grace):
                    self._signal(signal.SIGKILL)
                    self._exited_unreaped(10.0)
                # The leader is now a zombie, so its pid (our group id) cannot have been reused:
                # killing the group reaches only children it left behind (nginx workers).
                self._signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        finally:
            Process._live.discard(self)
        return self.popen.returncode

    def _exited_unreaped(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the leader to exit, leaving it unreaped (WNOWAIT)."""
        assert self.popen is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
                if os.waitid(os.P_PID, self.popen.pid, flags) is not None:
                    return True
            except ChildProcessError:  # already reaped
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def kill(self) -> int | None:
        """Stop without a grace period (SIGKILL), e.g. to simulate a crash."""
        return self.stop(grace=0)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        try:
            # The group id equals the leader's pid (start_new_session); only our own children.
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> Process:
        if self.popen is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- readiness ----------------------------------------------------------------------------
    def wait_for_port(self, port: int | None = None, timeout: float = DEFAULT_READY_TIMEOUT) -> None:
        """Wait until 127.0.0.1:``port`` accepts TCP connections; raise ProcessError with the log
        tail on timeout or if the process exits first."""
        port = self._port(port)

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        self._wait(ready, f"TCP 127.0.0.1:{port}", timeout)

    def wait_for_http(
        self,
        url: str | None = None,
        timeout: float = DEFAULT_READY_TIMEOUT,
        statuses: Sequence[int] | None = None,
    ) -> int:
        """Wait until a GET of ``url`` gets an HTTP answer (any status, or one of ``statuses``).

        ``url`` defaults to ``<self.url>/``. Returns the status seen. Raises ProcessError with the
        log tail on timeout or if the process exits first.
        """
        target = url or f"{self.url}/"
        seen: list[int] = []

        def ready() -> bool:
            status = http_status(target, timeout=1.0)
            if status is None:
                return False
            seen.append(status)
            return statuses is None or status in statuses

        self._wait(ready, f"HTTP {target}", timeout)
        return seen[-1]

    def _port(self, port: int | None) -> int:
        if port is not None:
            return port
        if self.port is None:
            raise ProcessError(f"{self.name}: no port to wait for")
        return self.port

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            if self.popen is None:
                raise ProcessError(f"{self.name} not started")
            if self.popen.poll() is not None:
                # Exited early: say so at once rather than burning the whole timeout.
                raise ProcessError(
                    f"{self.name} exited with code {self.popen.returncode} before {what} was ready\n"
                    f"{self.log_tail()}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                raise ProcessError(f"{self.name}: {what} not ready after {timeout:.1f}s\n{self.log_tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    # -- observation --------------------------------------------------------------------------
    def log_text(self) -> str:
        """The whole log so far (stdout and stderr interleaved)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log, headed by the log path, for assertion messages."""
        tail = self.log_text().splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited({self.returncode})"
        return f"<Process {self.name} pid={self.popen.pid if self.popen else None} {state}>"


def http_status(url: str, timeout: float = 1.0, method: str = "GET") -> int | None:
    """Status code of one plain-HTTP request to a loopback URL, or None if nothing answers."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise ValueError(f"loopback http URLs only: {url}")
    conn = http.client.HTTPConnection("127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@atexit.register
def _kill_leftovers() -> None:
    # Last resort only; fixtures are expected to have stopped everything already.
    for proc in list(Process._live):
        proc.stop(grace=1.0)


def stop_all(processes: Sequence[Process]) -> None:
    """Stop several processes, newest first, even if stopping one of them raises."""
    errors: list[BaseException] = []
    for proc in reversed(processes):
        try:
            proc.stop()
        except BaseException as exc:  # noqa: BLE001 - keep stopping the others
            errors.append(exc)
    if errors:
        raise errors[0]


# -- CNCF Distribution ("docker-registry") --------------------------------------------------------

class RegistryProcess(Process):
    """A running ``docker-registry serve``; ``host`` is ``127.0.0.1:<port>`` for image references."""

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


class Processes:
    """The processes one test (or fixture) started; :meth:`stop_all` stops every one of them.

    Used by the ``processes``/``registries`` fixtures so that whatever a test starts is stopped
    at teardown, even when the test fails half-way.
    """

    def __init__(self, log_dir: Path | str) -> None:
        self.log_dir = Path(log_dir)
        self.started: list[Process] = []

    def add(self, proc: Process) -> Process:
        """Track an already created (or started) process."""
        self.started.append(proc)
        return proc

    def start(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        stop_grace: float = DEFAULT_STOP_GRACE,
    ) -> Process:
        """Start ``argv`` with its log in ``log_dir``; the caller waits for readiness."""
        proc = Process(
            argv, name=name, log_dir=self.log_dir, env=env, cwd=cwd, port=port, stop_grace=stop_grace
        )
        self.add(proc)
        return proc.start()

    def stop_all(self) -> None:
        stop_all(self.started)
        self.started.clear()

    def log_tails(self, lines: int = 20) -> str:
        """Log tails of every tracked process, for a failing assertion's message."""
        return "\n".join(p.log_tail(lines) for p in self.started)


class Registries:
    """Starts origin and cache registries in sub-directories of ``base``; tracks them in ``processes``."""

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
                directory, port, remoteurl, username=username, password=password, debug_port=debug_port
            )
        binary = require("docker-registry")
        # start_registry stops the process itself when start-up fails, so tracking it only on
        # success loses nothing.
        proc = start_registry(config, port, name=f"{name}-{port}", log_dir=directory, binary=binary)
        self.processes.add(proc)
        return proc

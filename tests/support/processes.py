"""Child processes for end-to-end tests: start, wait until ready, stop, and show the log on failure.

A :class:`Process` runs one command in its own process group with stdout and stderr going to a log
file, so a failing test can show what the program said (:meth:`Process.log_tail`). It is a context
manager; leaving the block stops it with SIGTERM, then SIGKILL after a grace period, and always
reaps it. Every started process is also tracked module-wide and killed at interpreter exit, as a
last resort should a fixture finaliser itself fail.

:class:`Processes` tracks what one test started so a fixture can stop it all. The
``docker-registry`` helpers (:func:`start_registry`, :func:`write_origin_config`, ...) live in
:mod:`.registry` and are re-exported here.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

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
        self.log_dir = (
            Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="provisioner-e2e-"))
        )
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
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds, reap; return exit code.

        ``grace=0`` sends SIGKILL straight away. Safe to call twice and on a process that already
        exited. The exit code is negative for a signal (-15 after a plain SIGTERM).
        """
        if self.popen is None:
            return None
        grace = self.stop_grace if grace is None else grace
        try:
            if self.popen.returncode is None:  # not reaped yet
                self._signal(signal.SIGTERM if grace > 0 else signal.SIGKILL)
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
        """SIGKILL at once (no chance to clean up), e.g. to simulate a crash; reap."""
        return self.stop(grace=0)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        # The group id equals the leader's pid (start_new_session): only our own children.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

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
    def wait_for_port(
        self, port: int | None = None, timeout: float = DEFAULT_READY_TIMEOUT
    ) -> None:
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
                    f"{self.name} exited with code {self.popen.returncode} "
                    f"before {what} was ready\n"
                    f"{self.log_tail()}"
                )
            if ready():
                return
            if time.monotonic() >= deadline:
                raise ProcessError(
                    f"{self.name}: {what} not ready after {timeout:.1f}s\n{self.log_tail()}"
                )
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
            argv,
            name=name,
            log_dir=self.log_dir,
            env=env,
            cwd=cwd,
            port=port,
            stop_grace=stop_grace,
        )
        self.add(proc)
        return proc.start()

    def stop_all(self) -> None:
        stop_all(self.started)
        self.started.clear()

    def log_tails(self, lines: int = 20) -> str:
        """Log tails of every tracked process, for a failing assertion's message."""
        return "\n".join(p.log_tail(lines) for p in self.started)


# Registry helpers live in .registry (one concept per module). The harness API was specified as
# processes.start_registry / processes.write_origin_config, so those names resolve lazily here
# (PEP 562): an eager import would be circular, since .registry builds on Process.
_REGISTRY_NAMES = frozenset(
    {
        "Registries",
        "RegistryProcess",
        "new_registry",
        "registry_env",
        "start_registry",
        "write_origin_config",
        "write_proxy_config",
    }
)


def __getattr__(name: str) -> Any:
    if name in _REGISTRY_NAMES:
        from . import registry

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

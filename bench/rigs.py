"""One rig per target kind: a fresh server (or output directory) and the profile pointing at it.

A rig is a context manager; ``fresh()`` puts the server back to an empty, bootstrapped state
(a first ``apply`` really creates everything), ``requests`` lists what the server received since
``reset_log()`` and ``most_in_flight`` the largest number of requests it was answering at once.
The Registry kind has no server: no requests, and its state is the output directory.

The latency is added by :class:`InFlight` around the fake's handler (the fakes' own ``latency``
stays 0): each request waits ``latency`` seconds, then is handled, and is counted while it waits.

Read rounds (``read_rounds``/``verify_rounds``) are the floor the API forces on planning: the
number of request round trips that must follow one another because each needs the previous
answer. They feed the critical-path bound of bench/apply.py and are justified in
docs/performance.md.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from bench.common import (
    HARBOR_PASSWORD,
    NEXUS_PASSWORD,
    harbor_profile,
    nexus_profile,
    registry_profile,
)
from tests.fakes.base import Request, Response
from tests.fakes.harbor import FakeHarbor
from tests.fakes.nexus import NexusFake

PAGE = 100  # Harbor's largest page

# socketserver's listen backlog is 5; a real Nexus (Jetty) or Harbor (nginx in front) accepts
# hundreds. With 5, a burst of 64 connects overflows it and the kernel drops SYNs, which the
# client retries after a whole second: the bench would measure the fake, not the tool.
ThreadingHTTPServer.request_queue_size = 128


class InFlight:
    """Wraps a fake's ``handle``: sleeps ``latency`` first, and counts requests in flight."""

    def __init__(self, handle: Callable[[Request], Response], latency: float) -> None:
        self.handle = handle
        self.latency = latency
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            if self.latency:
                time.sleep(self.latency)
            return self.handle(request)
        finally:
            with self.lock:
                self.now -= 1


class Rig:
    kind = ""
    depth = 1  # longest depends_on chain of a first apply

    def __init__(self, caches: int, latency: float) -> None:
        self.caches = caches
        self.latency = latency
        self.scratch = Path(tempfile.mkdtemp(prefix=f"bench-{self.kind}-"))
        self.profile = self.scratch / "profile.yaml"
        self.tracker: InFlight | None = None

    def __enter__(self) -> Rig:
        self.fresh()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def fresh(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def _track(self, fake: NexusFake | FakeHarbor) -> None:
        handle = fake.__class__.handle.__get__(fake)
        self.tracker = InFlight(handle, self.latency)
        fake.handle = self.tracker  # type: ignore[method-assign]

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds
        if self.tracker is not None:
            self.tracker.latency = seconds

    @property
    def most_in_flight(self) -> int:
        return self.tracker.most if self.tracker is not None else 0

    def reset_log(self) -> None:
        if self.tracker is not None:
            self.tracker.most = 0

    @property
    def requests(self) -> list[str]:
        return []

    def read_rounds(self) -> int:
        """Sequential request rounds to plan a first apply (the server is empty)."""
        return 0

    def verify_rounds(self) -> int:
        """Sequential request rounds of the re-plan after the apply (everything exists)."""
        return 0


class RegistryRig(Rig):
    """Generated files: no server, no latency; the floor is the process itself."""

    kind = "registry"

    def fresh(self) -> None:
        output = self.scratch / "out"
        shutil.rmtree(output, ignore_errors=True)
        self.profile.write_text(registry_profile(output, self.caches), encoding="utf-8")


class NexusRig(Rig):
    """A bootstrapped fake Nexus 3 (EULA accepted, admin password set)."""

    kind = "nexus"
    depth = 2  # proxies, then the group that lists them

    def __init__(self, caches: int, latency: float) -> None:
        super().__init__(caches, latency)
        self.fake = NexusFake(bootstrapped=True, admin_password=NEXUS_PASSWORD)
        self.fake.start()
        self._track(self.fake)
        self.profile.write_text(nexus_profile(self.fake.url, caches), encoding="utf-8")

    def fresh(self) -> None:
        self.fake.reset()
        self.reset_log()

    def close(self) -> None:
        self.fake.stop()

    def reset_log(self) -> None:
        super().reset_log()
        self.fake.reset_log()

    @property
    def requests(self) -> list[str]:
        return [f"{r.method} {r.path.removeprefix('/service/rest')}" for r in self.fake.requests]

    def read_rounds(self) -> int:
        # repositorySettings | realms/active | anonymous: independent, one round.
        return 1

    def verify_rounds(self) -> int:
        return 1


class HarborRig(Rig):
    """A fake Harbor whose admin password is already rotated, with the default ``library``
    project; the profile has a ``bootstrap:`` block, so readiness is checked first."""

    kind = "harbor"
    depth = 2  # the endpoint, then the proxy-cache project bound to it

    def __init__(self, caches: int, latency: float) -> None:
        super().__init__(caches, latency)
        self.fake: FakeHarbor | None = None

    def fresh(self) -> None:
        self.close()  # the fake has no reset: a new one, on a new port
        self.fake = FakeHarbor(admin_password=HARBOR_PASSWORD, login_lock_seconds=0).start()
        self._track(self.fake)
        self.profile.write_text(harbor_profile(self.fake.url, self.caches), encoding="utf-8")

    def close(self) -> None:
        if self.fake is not None:
            self.fake.stop()
            self.fake = None

    def reset_log(self) -> None:
        super().reset_log()
        assert self.fake is not None
        self.fake.reset_log()

    @property
    def requests(self) -> list[str]:
        assert self.fake is not None
        return [f"{r.method} {r.path.removeprefix('/api/v2.0')}" for r in self.fake.requests]

    def _list_rounds(self, projects: int) -> int:
        # Page 1 tells the total (X-Total-Count); any further pages can then go at once.
        return 1 if max(projects, self.caches) <= PAGE else 2

    def read_rounds(self) -> int:
        # /ping | /health (readiness), /users/current (Harbor turns bad credentials into
        # anonymous access, so nothing is read before it), the lists (systeminfo | registries |
        # projects), then /registries/ping of the endpoints to write (needs the lists).
        return 1 + 1 + self._list_rounds(1) + 1

    def verify_rounds(self) -> int:
        # The same without pings (nothing left to write); projects = caches + library.
        return 1 + 1 + self._list_rounds(self.caches + 1)


RIGS: dict[str, type[Rig]] = {"registry": RegistryRig, "nexus": NexusRig, "harbor": HarborRig}

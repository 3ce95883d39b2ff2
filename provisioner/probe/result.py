"""What a probe saw, as frozen values: one :class:`ProbeResult` per (upstream, probe image).

A probe runs up to three steps against an upstream (``ping`` = ``GET /v2/``, ``token`` = the
Bearer token flow through the challenge's realm, ``manifest`` = ``HEAD`` of the probe image's
manifest) and stops at the first failure. ``error`` says what kind of failure it was, so callers
(and ``--json`` readers) can tell a dead host from a refused password:

========  ===========================================================
dns       the host name does not resolve
connect   nothing accepts the connection (refused, reset, unreachable)
tls       the TLS handshake failed (untrusted certificate, wrong protocol)
timeout   no answer before the probe's deadline
http      an HTTP error status (500, 404 for the probe image, 429, ...)
auth      credentials missing or refused (401/403, token service said no)
response  an answer that is not what a registry says (no challenge, no token, bad JSON)
========  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StepName = Literal["ping", "token", "manifest"]
ErrorKind = Literal["dns", "connect", "tls", "timeout", "http", "auth", "response"]
STEPS: tuple[StepName, ...] = ("ping", "token", "manifest")


@dataclass(frozen=True)
class ProbeTask:
    """One thing to probe: ``upstream`` asked for ``image`` (``repository:tag`` or ``@digest``)."""

    upstream: str
    image: str


@dataclass(frozen=True)
class Step:
    """One request of a probe. ``seconds`` is its wall time; ``status`` None without an answer."""

    name: StepName
    ok: bool
    seconds: float
    status: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of probing one upstream for one image.

    ``healthy`` is True only when every step that applies passed and the manifest was found;
    then ``digest`` is what the upstream said the image resolves to. Otherwise ``error`` and
    ``reason`` (one short phrase, e.g. ``connection refused``) say why; ``step`` names where.
    ``seconds`` is the probe's total wall time, the latency ``select: fastest`` compares.
    """

    upstream: str
    url: str
    image: str
    healthy: bool
    steps: tuple[Step, ...] = ()
    error: ErrorKind | None = None
    reason: str = ""
    step: StepName | None = None
    digest: str | None = None
    seconds: float = 0.0
    insecure: bool = False

    def step_seconds(self, name: StepName) -> float | None:
        """Wall time of step ``name`` (summed when it ran twice), None when it did not run."""
        times = [step.seconds for step in self.steps if step.name == name]
        return sum(times) if times else None

    @property
    def summary(self) -> str:
        """``healthy (57 ms)`` or ``down: connection refused``."""
        if self.healthy:
            return f"healthy ({format_ms(self.seconds)})"
        return f"down: {self.reason}"


@dataclass(frozen=True)
class ProbeReport:
    """Every probe of one run, in task order, and the run's wall time."""

    results: tuple[ProbeResult, ...]
    seconds: float
    timeout: float

    def get(self, upstream: str, image: str) -> ProbeResult | None:
        for result in self.results:
            if result.upstream == upstream and result.image == image:
                return result
        return None

    def of(self, upstream: str) -> list[ProbeResult]:
        """Every probe of ``upstream`` (one per distinct probe image of the caches using it)."""
        return [r for r in self.results if r.upstream == upstream]

    @property
    def all_healthy(self) -> bool:
        return all(r.healthy for r in self.results)

    @property
    def down(self) -> list[ProbeResult]:
        return [r for r in self.results if not r.healthy]


def format_ms(seconds: float | None) -> str:
    """``57 ms``, ``1.25 s``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.2f} s"

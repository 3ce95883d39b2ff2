"""Which upstream each cache uses right now, and why.

Probing (``provisioner.probe``) produces a :class:`Selection`; without a probe (``--no-probe``)
the first listed upstream is active. Backends read only this value, never the network, so
planning stays pure: ``desired(profile, selection)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.profile.model import Profile


@dataclass(frozen=True)
class UpstreamHealth:
    """What the probe saw for one upstream. ``latency`` is seconds for the whole probe."""

    healthy: bool
    reason: str = ""
    latency: float | None = None


@dataclass(frozen=True)
class Selection:
    """``active`` maps cache -> upstream name; ``order`` maps cache -> upstreams in use order.

    ``health`` is empty when nothing was probed. ``reasons`` explains each cache's choice in
    one sentence ("cf-worker down: connect timeout; switching to hk-nginx"). A cache in
    ``stranded`` has no healthy upstream: targets keep what they have for it.
    """

    active: dict[str, str]
    order: dict[str, list[str]]
    health: dict[str, UpstreamHealth] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    stranded: frozenset[str] = frozenset()

    @property
    def probed(self) -> bool:
        return bool(self.health)


def listed_order(profile: Profile) -> Selection:
    """The selection without probing: every cache uses its first listed upstream."""
    return Selection(
        active={name: cache.upstreams[0] for name, cache in profile.caches.items()},
        order={name: list(cache.upstreams) for name, cache in profile.caches.items()},
    )

"""From probe results to the active upstream of every cache (a :class:`Selection`), with reasons.

Rules, per cache:

- ``select: first-healthy``: the first healthy upstream in the listed order is active; the use
  order stays the listed order (a Nexus group keeps every member where the user put it, and
  client configs do not churn when health flaps).
- ``select: fastest``: the healthy upstream with the lowest probe latency is active; the use order
  is the healthy ones by latency, then the down ones in listed order. Given the ``previous``
  selection (``watch``), the previous order of the healthy ones is kept while its first is within
  :data:`FASTEST_SLACK` of the fastest, so jitter of a few milliseconds does not rewrite targets
  on every round.
- No healthy upstream: the cache is *stranded*. ``active`` names the first listed upstream only
  as a placeholder for a target that has nothing yet; targets keep what they have and say so
  (a Distribution registry panics at start-up on a dead remote, so switching would turn a
  degraded cache into a dead one).

Every choice gets one sentence in ``Selection.reasons`` ("cf-worker down: connection refused;
switching to hk-nginx"), which backends put in ``Change.reason``; :func:`selection_notes` adds
plan notes for down upstreams, switches and stranded caches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from provisioner.plan import Note
from provisioner.probe.result import ProbeReport, ProbeResult, format_ms
from provisioner.probe.runner import probe_profile
from provisioner.profile.model import Profile
from provisioner.selection import Selection, UpstreamHealth, listed_order

log = logging.getLogger(__name__)

# Keep the previous "fastest" choice while it is at most this much slower than the fastest:
# (factor, seconds), i.e. within 1.5x the best latency plus 50 ms.
FASTEST_SLACK = (1.5, 0.05)


def select(profile: Profile, report: ProbeReport, previous: Selection | None = None) -> Selection:
    """The selection implied by ``report``. A cache whose upstreams were not all probed keeps
    the listed order without a reason (it is not part of this run)."""
    active: dict[str, str] = {}
    order: dict[str, list[str]] = {}
    reasons: dict[str, str] = {}
    stranded: set[str] = set()
    for name, cache in profile.caches.items():
        listed = list(cache.upstreams)
        found = {u: report.get(u, cache.probe_image) for u in listed}
        results = {u: r for u, r in found.items() if r is not None}
        if len(results) != len(listed):
            active[name], order[name] = listed[0], listed
            continue
        healthy = [u for u in listed if results[u].healthy]
        if not healthy:
            stranded.add(name)
            active[name], order[name] = listed[0], listed
            reasons[name] = _stranded_reason(listed, results)
        elif cache.select == "fastest":
            order[name] = _fastest_order(name, listed, healthy, results, previous)
            active[name] = order[name][0]
            reasons[name] = _fastest_reason(active[name], listed, healthy, results)
        else:
            active[name], order[name] = healthy[0], listed
            reasons[name] = _first_healthy_reason(healthy[0], listed, results)
    return Selection(active, order, _health(report), reasons, frozenset(stranded))


def selection_notes(profile: Profile, selection: Selection) -> tuple[Note, ...]:
    """Plan notes: each down upstream (warning), each stranded cache (warning), each cache not
    on its first listed upstream (info)."""
    notes: list[Note] = []
    used = {u for name in selection.order for u in selection.order[name]}
    for upstream, health in selection.health.items():
        if not health.healthy and upstream in used:
            notes.append(Note(None, f"upstream {upstream} is down: {health.reason}", "warning"))
    for name, cache in profile.caches.items():
        if name in selection.stranded:
            notes.append(Note(None, f"cache {name}: every upstream is down; targets keep the "
                                    "upstream they have (nothing is switched to a dead one)",
                              "warning"))
        elif name in selection.reasons and selection.active[name] != cache.upstreams[0]:
            notes.append(Note(None, f"cache {name}: {selection.reasons[name]}"))
    return tuple(notes)


def probe_selection(profile: Profile, caches: Iterable[str] | None = None,
                    previous: Selection | None = None) -> tuple[Selection, ProbeReport]:
    """Probe the upstreams of ``caches`` (default all) and select; see :func:`select`."""
    report = probe_profile(profile, caches)
    return select(profile, report, previous), report


def selection_for(profile: Profile, probe: bool = True) -> tuple[Selection, tuple[Note, ...]]:
    """What ``diff``/``apply`` plan with, and the notes to show with the plan.

    Probed unless ``probe`` is False (``--no-probe``) or the profile says ``probe: {enabled:
    false}``; then every cache uses its first listed upstream and there are no notes.
    """
    if not probe or not profile.probe.enabled:
        return listed_order(profile), ()
    selection, report = probe_selection(profile)
    log.info("probed %d upstream(s) in %s: %d down", len(report.results), format_ms(report.seconds),
             len(report.down))
    return selection, selection_notes(profile, selection)


def _health(report: ProbeReport) -> dict[str, UpstreamHealth]:
    """Per upstream: healthy only if every probe of it (one per probe image) was."""
    out: dict[str, UpstreamHealth] = {}
    for result in report.results:
        seen = out.get(result.upstream)
        if seen is None:
            out[result.upstream] = UpstreamHealth(result.healthy, result.reason, result.seconds)
        else:
            out[result.upstream] = UpstreamHealth(
                seen.healthy and result.healthy,
                seen.reason or result.reason,
                max(seen.latency or 0.0, result.seconds),
            )
    return out


def _down(names: Iterable[str], results: dict[str, ProbeResult]) -> str:
    return "; ".join(f"{u} down: {results[u].reason}" for u in names)


def _first_healthy_reason(chosen: str, listed: list[str], results: dict[str, ProbeResult]) -> str:
    skipped = listed[: listed.index(chosen)]
    if not skipped:
        latency = format_ms(results[chosen].seconds)
        return f"{chosen} is the first listed upstream and healthy ({latency})"
    return f"{_down(skipped, results)}; switching to {chosen}"


def _fastest_order(cache: str, listed: list[str], healthy: list[str],
                   results: dict[str, ProbeResult], previous: Selection | None) -> list[str]:
    down = [u for u in listed if u not in healthy]
    by_latency = sorted(healthy, key=lambda u: results[u].seconds)
    if previous is not None and cache in previous.order and cache not in previous.stranded:
        kept = [u for u in previous.order[cache] if u in healthy]
        factor, seconds = FASTEST_SLACK
        best = results[by_latency[0]].seconds
        # The previous order, minus what went down, while its head is still close to the best.
        if set(kept) == set(healthy) and results[kept[0]].seconds <= best * factor + seconds:
            return kept + down
    return by_latency + down


def _fastest_reason(chosen: str, listed: list[str], healthy: list[str],
                    results: dict[str, ProbeResult]) -> str:
    others = ", ".join(f"{u} {format_ms(results[u].seconds)}" for u in healthy if u != chosen)
    fastest = min(healthy, key=lambda u: results[u].seconds)
    latency = format_ms(results[chosen].seconds)
    if fastest == chosen:
        text = f"{chosen} is the fastest healthy upstream ({latency}"
    else:  # kept by the slack rule
        text = f"staying on {chosen}, close enough to the fastest ({latency}"
    text += f"; {others})" if others else ")"
    down = [u for u in listed if u not in healthy]
    return f"{_down(down, results)}; {text}" if down else text


def _stranded_reason(listed: list[str], results: dict[str, ProbeResult]) -> str:
    detail = "; ".join(f"{u}: {results[u].reason}" for u in listed)
    return f"no healthy upstream ({detail}); keeping the configured upstream"

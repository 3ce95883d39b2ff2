"""Render a probe run: a text table for people, JSON for scripts.

The table has one row per probe (upstream x probe image) with the latency of each step, then one
line per cache saying which upstream is active and why, then a summary line. The JSON carries the
same facts plus every step's status; field names are stable (``format_version`` rules as for the
plan JSON: a minor bump only adds fields).
"""

from __future__ import annotations

import json
from typing import Any

import click

from provisioner import secrets
from provisioner.probe.result import ProbeReport, ProbeResult, format_ms
from provisioner.profile.model import Profile
from provisioner.selection import Selection

FORMAT_VERSION = "1.0"
DIGEST_WIDTH = 19  # "sha256:" + 12 hex digits: enough to compare by eye


def render_text(report: ProbeReport, profile: Profile, selection: Selection | None = None,
                color: bool = False) -> str:
    """The table, the caches and the summary line."""
    if not report.results:
        return "No upstreams to probe.\n"
    images = {r.image for r in report.results}
    header = ["UPSTREAM", "URL", *(["IMAGE"] if len(images) > 1 else []), "STATUS", "PING", "TOKEN",
              "MANIFEST", "TOTAL", "DIGEST / REASON"]
    rows = [_row(r, len(images) > 1) for r in report.results]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = []
    if len(images) == 1:
        lines.append(f"Probe image: {images.pop()}")
    for i, row in enumerate([header, *rows]):
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        text = "  ".join([*cells, row[-1]])
        colour = None if i == 0 else ("green" if report.results[i - 1].healthy else "red")
        lines.append(click.style(text.rstrip(), fg=colour) if color and colour else text.rstrip())
    if selection is not None and selection.reasons:
        lines += ["", "Caches:"]
        width = max(len(c) for c in profile.caches)
        for name, cache in profile.caches.items():
            if name not in selection.reasons:
                continue
            state = "STRANDED" if name in selection.stranded else f"-> {selection.active[name]}"
            reason = selection.reasons[name]
            lines.append(f"  {name.ljust(width)}  {cache.select:<13}  {state}: {reason}")
    healthy = sum(r.healthy for r in report.results)
    lines += ["", f"{healthy} of {len(report.results)} upstream probes healthy "
                  f"(took {format_ms(report.seconds)}, timeout {report.timeout:g}s)."]
    return secrets.redact("\n".join(lines)) + "\n"


def _row(result: ProbeResult, with_image: bool) -> list[str]:
    status = "healthy" if result.healthy else f"DOWN ({result.error})"
    detail = (result.digest or "(no digest)")[:DIGEST_WIDTH] if result.healthy else result.reason
    return [
        result.upstream,
        result.url + (" (insecure)" if result.insecure else ""),
        *([result.image] if with_image else []),
        status,
        format_ms(result.step_seconds("ping")),
        format_ms(result.step_seconds("token")),
        format_ms(result.step_seconds("manifest")),
        format_ms(result.seconds),
        detail,
    ]


def report_to_json(report: ProbeReport, profile: Profile,
                   selection: Selection | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "healthy": report.all_healthy,
        "timeout_s": report.timeout,
        "elapsed_ms": _ms(report.seconds),
        "upstreams": [_result(r) for r in report.results],
    }
    if selection is not None:
        out["caches"] = [
            {
                "name": name,
                "select": cache.select,
                "probe_image": cache.probe_image,
                "active": selection.active.get(name),
                "order": selection.order.get(name, []),
                "stranded": name in selection.stranded,
                "reason": selection.reasons.get(name),
            }
            for name, cache in profile.caches.items()
        ]
    return out


def render_json(report: ProbeReport, profile: Profile, selection: Selection | None = None) -> str:
    text = json.dumps(report_to_json(report, profile, selection), indent=2, ensure_ascii=False)
    return secrets.redact(text) + "\n"


def _result(result: ProbeResult) -> dict[str, Any]:
    return {
        "name": result.upstream,
        "url": result.url,
        "image": result.image,
        "healthy": result.healthy,
        "error": result.error,
        "reason": result.reason or None,
        "failed_step": result.step,
        "digest": result.digest,
        "latency_ms": _ms(result.seconds),
        "insecure": result.insecure,
        "steps": [
            {"name": s.name, "ok": s.ok, "status": s.status, "ms": _ms(s.seconds),
             **({"detail": s.detail} if s.detail else {})}
            for s in result.steps
        ],
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)

"""What a Harbor target holds now: endpoints, projects, version, and which upstreams Harbor
cannot reach. The only module besides ``apply`` and ``bootstrap`` that talks to Harbor.

Reads are list calls of up to 100 items per page, so a no-op plan costs a handful of requests
whatever the number of caches. Harbor refuses to create or update an endpoint whose upstream it
cannot reach (400, harbor.md §0.3), so every endpoint that the plan would write is pinged here
first (``POST /registries/ping``, read-only): a dead upstream becomes a plan error before
anything is written, instead of a failure half-way through an apply.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provisioner.backends.base import TargetContext
from provisioner.backends.harbor.client import HarborClient, Version
from provisioner.backends.harbor.desired import (
    Desired,
    EndpointSpec,
    normalise_url,
    parse_marker,
    strip_secret,
)
from provisioner.errors import ApiError, PlanError
from provisioner.plan import diff_fields


@dataclass(frozen=True)
class Actual:
    """The target's state. ``registries`` and ``projects`` are Harbor's objects by name;
    ``unreachable`` maps a cache to Harbor's reason for refusing its desired upstream."""

    version: Version | None
    registries: dict[str, dict[str, Any]]
    projects: dict[str, dict[str, Any]]
    unreachable: dict[str, str] = field(default_factory=dict)

    @property
    def registries_by_id(self) -> dict[int, dict[str, Any]]:
        return {int(r["id"]): r for r in self.registries.values() if isinstance(r.get("id"), int)}


def registry_view(registry: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as Harbor returns it, in the shape of :meth:`EndpointSpec.view`.

    The secret comes back as ``*****``; the fingerprint in the ownership marker stands in for it.
    """
    credential = registry.get("credential") or {}
    marker = parse_marker(registry.get("description"))
    return {
        "name": registry.get("name"),
        "type": registry.get("type"),
        "url": normalise_url(registry.get("url")),
        "insecure": bool(registry.get("insecure", False)),
        "description": strip_secret(registry.get("description")),
        "credential": {
            "access_key": credential.get("access_key") or "",
            "access_secret": marker.secret if marker else None,
        },
    }


def needs_write(spec: EndpointSpec, registry: dict[str, Any] | None) -> bool:
    """True when planning ``spec`` against ``registry`` would create, update or replace it."""
    return registry is None or bool(diff_fields(spec.view(), registry_view(registry)))


def read(client: HarborClient, ctx: TargetContext, desired: Desired) -> Actual:
    """List endpoints and projects, then ping the upstreams of the endpoints to be written."""
    # The two lists are independent: one round trip, not two (in turn at parallelism 1).
    with ThreadPoolExecutor(max_workers=max(1, min(ctx.options.parallelism, 2))) as pool:
        listed_registries = pool.submit(client.list_registries)
        listed_projects = pool.submit(client.list_projects)
        registries = {str(r.get("name")): r for r in listed_registries.result()}
        projects = {str(p.get("name")): p for p in listed_projects.result()}
    to_ping = [
        spec for cache, spec in desired.endpoints.items()
        if cache not in ctx.selection.stranded and needs_write(spec, registries.get(spec.name))
    ]
    unreachable: dict[str, str] = {}
    if to_ping:
        workers = max(1, min(ctx.options.parallelism, len(to_ping)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            answers = list(pool.map(lambda s: _ping(client, ctx, s), to_ping))
        unreachable = {spec.cache: why for spec, why in zip(to_ping, answers, strict=True) if why}
    return Actual(client.version, registries, projects, unreachable)


def _ping(client: HarborClient, ctx: TargetContext, spec: EndpointSpec) -> str | None:
    """Ping one upstream through Harbor; a failed ping names the endpoint it was for."""
    try:
        return client.ping_registry(spec.ping_body())
    except ApiError as exc:
        raise PlanError(f"harbor.{ctx.name}.endpoint.{spec.cache}: asking Harbor to reach "
                        f"{spec.url} failed: {exc.message}", exc.hint) from None

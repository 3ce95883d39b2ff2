"""Plan a Harbor target: compare desired endpoints and projects with Harbor's, return changes.

Pure (no I/O); table-tested in tests/unit/test_harbor_planner.py. Rules:

- An endpoint whose upstream changed is **updated in place** (URL swap): its project and cache
  stay. The update always resends the secret.
- The secret is compared only through the fingerprint in the ownership marker, never by value
  (Harbor returns ``*****``), and shown as ``(sensitive)``.
- A project bound to another endpoint, or our endpoint with another type, cannot change in place
  (``registry_id`` and ``type`` are fixed at creation): that is a **replace** (``-/+``), which
  drops the project's cached images, so it is blocked unless ``--replace`` was given.
- A project of the cache's name that is not a proxy project, or an endpoint of our name without
  our marker, is someone else's: a :class:`PlanError`, nothing is touched.
- Every endpoint to be written must be reachable from Harbor (``actual.unreachable``), else a
  :class:`PlanError` names the upstreams before anything is written. A cache with no healthy
  upstream at all (``selection.stranded``) keeps its endpoint as it is, with a note.
- ``--prune`` deletes only endpoints carrying this target's marker, and the project of the cache
  named in that marker when it is bound to that endpoint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from provisioner.backends.base import TargetContext
from provisioner.backends.harbor.actual import Actual, registry_view
from provisioner.backends.harbor.client import Version
from provisioner.backends.harbor.desired import Desired, EndpointSpec, ProjectSpec, parse_marker
from provisioner.errors import PlanError
from provisioner.plan import Action, Change, diff_fields, update_or_noop

SECRET_FIELD = "credential.access_secret"
PROJECT_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")  # H:src/pkg/project/manager.go
OLDEST_SUPPORTED: Version = (2, 9, 0)
# harbor.md §9: the first Harbor version that knows each metadata key the profile can set.
METADATA_SINCE: dict[str, Version] = {"proxy_speed_kb": (2, 12, 0), "max_upstream_conn": (2, 15, 0)}
ENDPOINT, PROJECT = "harbor_registry", "harbor_project"


@dataclass(frozen=True)
class WriteEndpoint:
    """Create (``registry_id`` None), update, or replace (``replace_id``: delete it first, after
    deleting the projects bound to it) one endpoint."""

    spec: EndpointSpec
    registry_id: int | None = None
    replace_id: int | None = None
    bound_projects: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteProject:
    """Create, update the metadata of, or replace one project. ``registry_id`` None: the endpoint
    is created in this run and its id is taken from the client."""

    spec: ProjectSpec
    registry_id: int | None
    exists: bool = False
    replace: bool = False


@dataclass(frozen=True)
class DeleteProject:
    name: str


@dataclass(frozen=True)
class DeleteEndpoint:
    name: str
    registry_id: int


def plan(ctx: TargetContext, desired: Desired, actual: Actual) -> list[Change]:
    """Every change of one Harbor target, endpoint before project, cache by cache, then prunes."""
    for warning in desired.warnings:
        ctx.note(warning, "warning")
    for name in desired.projects:
        if not PROJECT_NAME.fullmatch(name):
            raise PlanError(f"harbor target {ctx.name!r}: cache name {name!r} is not a valid "
                            "Harbor project name (no '-' at the end and no '--'); rename the cache")
    projects = _gate_metadata(ctx, desired, actual.version)
    failures: list[str] = []
    changes: list[Change] = []
    for cache, spec in desired.endpoints.items():
        endpoint, endpoint_id, skip = _endpoint(ctx, spec, actual, failures)
        if endpoint is not None:
            changes.append(endpoint)
        if not skip:
            changes.append(_project(ctx, projects[cache], actual, endpoint, endpoint_id))
    if failures:
        raise PlanError(f"harbor target {ctx.name!r}: " + "; ".join(failures)
                        + ". Harbor refuses endpoints it cannot reach, so nothing was changed "
                        "(hint: check the upstream from the Harbor host, or reorder the cache's "
                        "upstreams)")
    changes.extend(_prune(ctx, desired, actual))
    return changes


def _endpoint(ctx: TargetContext, spec: EndpointSpec, actual: Actual,
              failures: list[str]) -> tuple[Change | None, int | None, bool]:
    """(change, id of the endpoint the project must be bound to if known, skip the project)."""
    address = f"harbor.{ctx.name}.endpoint.{spec.cache}"
    registry = actual.registries.get(spec.name)
    if registry is not None and parse_marker(registry.get("description")) is None:
        raise PlanError(f"{address}: Harbor already has an endpoint named {spec.name!r} that this "
                        "tool did not create (its description has no provisioner marker); rename "
                        "or delete it in Harbor")
    stranded = spec.cache in ctx.selection.stranded
    reason = ctx.selection.reasons.get(spec.cache, "")
    after = spec.view()
    sensitive = frozenset({SECRET_FIELD})
    if registry is None:
        if stranded:
            ctx.note(f"cache {spec.cache}: no healthy upstream, so endpoint {spec.name} cannot be "
                     "created yet (Harbor refuses unreachable upstreams); its project waits too",
                     "warning")
            return None, None, True
        _reachable(spec, actual, failures)
        return Change(address, Action.CREATE, ctx.name, ENDPOINT, reason or "does not exist",
                      after=after, sensitive_fields=sensitive,
                      payload=WriteEndpoint(spec)), None, False
    registry_id = int(registry["id"])
    before = registry_view(registry)
    diffs = diff_fields(after, before)
    if not diffs:
        return Change(address, Action.NOOP, ctx.name, ENDPOINT, before=before, after=after,
                      sensitive_fields=sensitive), registry_id, False
    if stranded:
        ctx.note(f"cache {spec.cache}: no healthy upstream; keeping endpoint {spec.name} at "
                 f"{registry.get('url')}", "warning")
        return Change(address, Action.NOOP, ctx.name, ENDPOINT, before=before, after=before,
                      sensitive_fields=sensitive), registry_id, False
    _reachable(spec, actual, failures)
    diffs = tuple(replace(d, sensitive=True) if d.path == SECRET_FIELD else d for d in diffs)
    if before["type"] != spec.type:
        users = sorted(str(p.get("name")) for p in actual.projects.values()
                       if p.get("registry_id") == registry_id)
        others = [name for name in users if name != spec.cache]
        if others:  # deleting the endpoint would need deleting projects this tool does not own
            raise PlanError(f"{address}: endpoint {spec.name} has type {before['type']} and must "
                            f"be replaced, but project(s) {', '.join(others)} also use it; move "
                            "them to another endpoint or delete them in Harbor first")
        why = (f"endpoint type {before['type']} cannot change to {spec.type}; replacing it also "
               f"replaces project {spec.cache}, which drops its cached images"
               if users else f"endpoint type {before['type']} cannot change to {spec.type}")
        return Change(address, Action.REPLACE, ctx.name, ENDPOINT, _with_flag(ctx, why), diffs,
                      before=before, after=after, sensitive_fields=sensitive,
                      payload=WriteEndpoint(spec, replace_id=registry_id,
                                            bound_projects=tuple(users)),
                      blocked=_blocked(ctx, why) if users else ""), None, False
    if not reason and before["url"] != after["url"]:
        reason = f"cache {spec.cache} now uses upstream {spec.upstream}; URL swapped in place"
    return Change(address, Action.UPDATE, ctx.name, ENDPOINT, reason, diffs, before=before,
                  after=after, sensitive_fields=sensitive,
                  payload=WriteEndpoint(spec, registry_id)), registry_id, False


def _project(ctx: TargetContext, spec: ProjectSpec, actual: Actual, endpoint: Change | None,
             endpoint_id: int | None) -> Change:
    address = f"harbor.{ctx.name}.project.{spec.name}"
    project = actual.projects.get(spec.name)
    depends = (endpoint.address,) if endpoint is not None and not endpoint.is_noop else ()
    after: dict[str, Any] = {"registry": spec.endpoint, "metadata": spec.metadata}
    if project is None:
        return Change(address, Action.CREATE, ctx.name, PROJECT, "does not exist", after=after,
                      depends_on=depends, payload=WriteProject(spec, endpoint_id))
    bound_id = project.get("registry_id")
    if not bound_id:
        raise PlanError(f"{address}: Harbor already has a project named {spec.name!r} that is not "
                        "a proxy-cache project; rename the cache in the profile or remove that "
                        "project in Harbor (this tool never changes projects it does not own)")
    bound = actual.registries_by_id.get(int(bound_id), {})
    before: dict[str, Any] = {"registry": bound.get("name", f"id {bound_id}"),
                              "metadata": {k: (project.get("metadata") or {}).get(k)
                                           for k in spec.metadata}}
    if endpoint_id is None or int(bound_id) != endpoint_id:
        replaced = endpoint.payload.replace_id if endpoint is not None and isinstance(
            endpoint.payload, WriteEndpoint) else None
        if replaced is not None and int(bound_id) == replaced:
            why = f"its endpoint {spec.endpoint} is replaced; this drops its cached images"
        else:
            why = (f"bound to endpoint {before['registry']!r}, not {spec.endpoint!r}, and a proxy "
                   "project's endpoint cannot change; replacing it drops its cached images")
        return Change(address, Action.REPLACE, ctx.name, PROJECT, _with_flag(ctx, why),
                      diff_fields(after, before), before=before, after=after, depends_on=depends,
                      payload=WriteProject(spec, endpoint_id, exists=True, replace=True),
                      blocked=_blocked(ctx, why))
    return update_or_noop(address=address, target=ctx.name, resource_type=PROJECT,
                          desired=after, actual=before, depends_on=depends,
                          payload=WriteProject(spec, endpoint_id, exists=True))


def _prune(ctx: TargetContext, desired: Desired, actual: Actual) -> list[Change]:
    """Deletions of this target's endpoints (and their projects) that the profile dropped."""
    wanted = {spec.name for spec in desired.endpoints.values()}
    changes: list[Change] = []
    orphans: list[str] = []
    for name, registry in sorted(actual.registries.items()):
        marker = parse_marker(registry.get("description"))
        if marker is None or marker.target != ctx.name:
            continue  # not ours, or another target's
        if name in wanted or marker.cache in desired.endpoints:
            continue
        registry_id = int(registry["id"])
        users = [p for p in actual.projects.values() if p.get("registry_id") == registry_id]
        ours = [p for p in users if p.get("name") == marker.cache]
        others = [str(p.get("name")) for p in users if p.get("name") != marker.cache]
        orphans.append(name)
        if not ctx.options.prune:
            continue
        endpoint_address = f"harbor.{ctx.name}.endpoint.{marker.cache}"
        depends: tuple[str, ...] = ()
        for project in ours:
            address = f"harbor.{ctx.name}.project.{project['name']}"
            changes.append(Change(address, Action.DELETE, ctx.name, PROJECT,
                                  "no longer in the profile (--prune); its cached images go too",
                                  before={"registry": name, "metadata": project.get("metadata")},
                                  payload=DeleteProject(str(project["name"]))))
            depends = (address,)
        if others:
            ctx.note(f"endpoint {name} is kept: project(s) {', '.join(others)} still use it",
                     "warning")
            continue
        changes.append(Change(endpoint_address, Action.DELETE, ctx.name, ENDPOINT,
                              "no longer in the profile (--prune)", before=registry_view(registry),
                              sensitive_fields=frozenset({SECRET_FIELD}), depends_on=depends,
                              payload=DeleteEndpoint(name, registry_id)))
    if orphans and not ctx.options.prune:
        ctx.note(f"endpoint(s) {', '.join(orphans)} (and their projects) were created by this tool "
                 "but are no longer in the profile; apply --prune deletes them")
    return changes


def _gate_metadata(ctx: TargetContext, desired: Desired,
                   version: Version | None) -> dict[str, ProjectSpec]:
    """Drop metadata keys this Harbor version does not know, with one note per key."""
    if version is None:
        return dict(desired.projects)
    if version < OLDEST_SUPPORTED:
        ctx.note(f"Harbor {_v(version)} is older than {_v(OLDEST_SUPPORTED)}, the oldest version "
                 "this tool supports", "warning")
    missing = {key for key, since in METADATA_SINCE.items() if version < since}
    used = {key for p in desired.projects.values() for key in p.metadata} & missing
    for key in sorted(used):
        ctx.note(f"Harbor {_v(version)} has no {key} (added in {_v(METADATA_SINCE[key])}); "
                 "it is not set", "warning")
    return {cache: replace(p, metadata={k: v for k, v in p.metadata.items() if k not in missing})
            for cache, p in desired.projects.items()}


def _reachable(spec: EndpointSpec, actual: Actual, failures: list[str]) -> None:
    why = actual.unreachable.get(spec.cache)
    if why is not None:
        failures.append(f"Harbor cannot reach upstream {spec.upstream} ({spec.url}) of cache "
                        f"{spec.cache}: {why}")


def _with_flag(ctx: TargetContext, why: str) -> str:
    return why if ctx.options.allow_replace else f"{why}; needs --replace"


def _blocked(ctx: TargetContext, why: str) -> str:
    if ctx.options.allow_replace:
        return ""
    return f"must be replaced ({why}); run apply --replace to allow it"


def _v(version: Version) -> str:
    return ".".join(str(part) for part in version)

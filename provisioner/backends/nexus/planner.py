"""Plan a Nexus target: desired state and actual state in, changes out. No I/O.

Ordering is carried by ``Change.depends_on``: a new blob store before the repositories on it,
proxies before the group that lists them, the group before deleting (``--prune``) a proxy it no
longer lists. Nexus refuses to move a repository to another blob store and cannot change a
repository's format or type, so those are never planned as updates: another blob store keeps
the one in use (with a note), and a name held by another format or type is a :class:`PlanError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.backends.base import TargetContext
from provisioner.backends.nexus.actual import NexusActual, RepoState
from provisioner.backends.nexus.desired import (
    SECRET_FIELD,
    DesiredRepo,
    NexusDesired,
    address,
    managed_view,
    marked_cache,
    with_blob_store,
    with_members,
)
from provisioner.errors import PlanError
from provisioner.plan import Action, Change, FieldDiff, diff_fields

DOCKER_TOKEN = "DockerToken"
RESOURCE = {"proxy": "nexus_docker_proxy", "group": "nexus_docker_group"}


@dataclass(frozen=True)
class RepoOp:
    """Payload of a repository change: ``verb`` is create, update or delete."""

    verb: str
    rtype: str
    name: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BlobStoreOp:
    name: str


@dataclass(frozen=True)
class RealmsOp:
    """Append these realms to the active list at apply time (read-modify-write)."""

    append: tuple[str, ...]


@dataclass(frozen=True)
class AnonymousOp:
    settings: dict[str, Any]


def plan(ctx: TargetContext, desired: NexusDesired, actual: NexusActual) -> list[Change]:
    changes: list[Change] = []
    blob_address = f"nexus.{ctx.name}.blobstore.{desired.blob_store}"
    blob_pending = False
    if desired.create_blob_store and actual.blobstores is not None:
        blob_pending = desired.blob_store not in actual.blobstores
        changes.append(Change(
            blob_address, Action.CREATE if blob_pending else Action.NOOP, ctx.name,
            "nexus_blobstore", "does not exist" if blob_pending else "",
            after={"name": desired.blob_store, "type": "file"},
            payload=BlobStoreOp(desired.blob_store)))
    proxy_changes: dict[str, Change] = {}
    for repo in desired.repos:
        if repo.rtype == "group":
            repo = _group_members(ctx, repo, actual)
        existing = _existing(ctx, repo, actual)
        deps: tuple[str, ...] = (blob_address,) if blob_pending else ()
        if repo.rtype == "group":
            deps += tuple(proxy_changes[m].address for m in repo.members
                          if m in proxy_changes and not proxy_changes[m].is_noop)
        change = plan_repo(ctx, repo, existing, deps, desired.reasons.get(repo.cache, ""))
        if repo.rtype == "proxy":
            proxy_changes[repo.name] = change
        changes.append(change)
    changes.extend(plan_orphans(ctx, desired, actual, changes))
    changes.extend(plan_security(ctx, desired, actual))
    return changes


def plan_repo(ctx: TargetContext, repo: DesiredRepo, existing: RepoState | None,
              depends_on: tuple[str, ...] = (), reason: str = "") -> Change:
    """CREATE, UPDATE or NOOP for one Docker repository (write-only password via fingerprint)."""
    where = address(ctx.name, repo.name)
    kind = RESOURCE[repo.rtype]
    secret = frozenset({SECRET_FIELD}) if repo.rtype == "proxy" else frozenset()
    desired_view = repo.managed
    if existing is None:
        return Change(where, Action.CREATE, ctx.name, kind, reason or "does not exist",
                      after=_compact(desired_view), sensitive_fields=secret, depends_on=depends_on,
                      payload=RepoOp("create", repo.rtype, repo.name, repo.body))
    kept = (existing.settings.get("storage") or {}).get("blobStoreName")
    wanted_store = repo.body["storage"]["blobStoreName"]
    if isinstance(kept, str) and kept != wanted_store:
        # Nexus answers 400 to a blob store change: keep the one in use, and say so.
        ctx.note(f"repository {repo.name} stays on blob store {kept!r}, not {wanted_store!r}: "
                 "Nexus cannot move a repository; delete it to recreate it there", "warning")
        repo = with_blob_store(repo, kept)
    actual_view = managed_view(existing.settings, repo.rtype)
    if "pathEnabled" not in (existing.settings.get("docker") or {}):
        # A server before 3.83 has no path routing and never reports the field: not a change.
        actual_view["docker"]["pathEnabled"] = desired_view["docker"]["pathEnabled"]
    diffs = tuple(FieldDiff(d.path, d.old, d.new, True) if d.path == SECRET_FIELD else d
                  for d in diff_fields(desired_view, actual_view))
    if not diffs:
        return Change(where, Action.NOOP, ctx.name, kind, before=desired_view, after=desired_view,
                      sensitive_fields=secret)
    if not reason and _marker_missing(existing, repo, ctx.name):
        reason = "exists without this tool's marker: adopting it"
    return Change(where, Action.UPDATE, ctx.name, kind, reason, diffs, before=actual_view,
                  after=desired_view, sensitive_fields=secret, depends_on=depends_on,
                  payload=RepoOp("update", repo.rtype, repo.name, repo.body))


def plan_orphans(ctx: TargetContext, desired: NexusDesired, actual: NexusActual,
                 planned: list[Change]) -> list[Change]:
    """Repositories this tool created that the profile no longer wants.

    Only a Docker proxy carrying the marker, and the Docker group its marker names, qualify.
    With ``--prune`` they are deleted (proxies after every group change of the target, so no
    group lists a proxy that is gone); without it a note names them.
    """
    wanted = {r.name.lower() for r in desired.repos}
    owned_groups: set[str] = set()
    orphans: list[RepoState] = []
    for state in actual.repos.values():
        if not (state.is_docker and state.type == "proxy"):
            continue
        cache = marked_cache(state.settings, ctx.name)
        if cache is None:
            continue
        owned_groups.add(cache.lower())
        if state.name.lower() not in wanted:
            orphans.append(state)
    orphans += [s for s in actual.repos.values()
                if s.is_docker and s.type == "group" and s.name.lower() in owned_groups
                and s.name.lower() not in wanted]
    if not orphans:
        return []
    names = sorted(s.name for s in orphans)
    if not ctx.options.prune:
        what = "repository" if len(names) == 1 else "repositories"
        ctx.note(f"{len(names)} {what} created by provisioner no longer in the profile: "
                 f"{', '.join(names)} (apply --prune deletes them)")
        return []
    group_changes = tuple(c.address for c in planned
                          if c.resource_type == RESOURCE["group"] and not c.is_noop)
    changes: list[Change] = []
    for state in sorted(orphans, key=lambda s: (s.type != "group", s.name)):
        where = address(ctx.name, state.name)
        deps = () if state.type == "group" else group_changes + tuple(
            address(ctx.name, s.name) for s in orphans if s.type == "group")
        changes.append(Change(where, Action.DELETE, ctx.name, RESOURCE[state.type],
                              "created by provisioner, no longer in the profile; --prune",
                              before=_summary(state), depends_on=deps,
                              payload=RepoOp("delete", state.type, state.name)))
    return changes


def plan_security(ctx: TargetContext, desired: NexusDesired, actual: NexusActual) -> list[Change]:
    """With ``anonymous_pull``: DockerToken appended to the active realms (never dropping one)
    and anonymous access on. Without it, neither is touched."""
    if not desired.anonymous_pull or actual.realms is None or actual.anonymous is None:
        return []
    changes = []
    realms = list(actual.realms)
    wanted = realms if DOCKER_TOKEN in realms else [*realms, DOCKER_TOKEN]
    where = f"nexus.{ctx.name}.security.realms"
    if wanted == realms:
        changes.append(Change(where, Action.NOOP, ctx.name, "nexus_realms"))
    else:
        changes.append(Change(where, Action.UPDATE, ctx.name, "nexus_realms",
                              "anonymous_pull needs the Docker Bearer Token realm",
                              (FieldDiff("active", realms, wanted),), before={"active": realms},
                              after={"active": wanted}, payload=RealmsOp((DOCKER_TOKEN,))))
    anonymous = actual.anonymous
    where = f"nexus.{ctx.name}.security.anonymous"
    user = anonymous.get("userId")
    if user not in (None, "anonymous"):
        ctx.note(f"anonymous access uses user {user!r}; Docker's token realm expects 'anonymous' "
                 "(sonatype/nexus-public#311)", "warning")
    if anonymous.get("enabled") is True:
        changes.append(Change(where, Action.NOOP, ctx.name, "nexus_anonymous"))
    else:
        settings = {"enabled": True, "userId": user or "anonymous",
                    "realmName": anonymous.get("realmName") or "NexusAuthorizingRealm"}
        diff = FieldDiff("enabled", anonymous.get("enabled"), True)
        changes.append(Change(where, Action.UPDATE, ctx.name, "nexus_anonymous",
                              "anonymous_pull: true", (diff,),
                              before={"enabled": anonymous.get("enabled")}, after={"enabled": True},
                              payload=AnonymousOp(settings)))
    return changes


def _existing(ctx: TargetContext, repo: DesiredRepo, actual: NexusActual) -> RepoState | None:
    """The repository holding ``repo``'s name, if any; PlanError when it cannot be ours."""
    state = actual.find(repo.name)
    if state is None:
        return None
    if state.name != repo.name:
        raise PlanError(f"nexus target {ctx.name!r}: repository {state.name!r} exists, and Nexus "
                        f"names are unique ignoring case, so {repo.name!r} cannot be created; "
                        "rename or delete one of them")
    if not state.is_docker or state.type != repo.rtype:
        raise PlanError(f"nexus target {ctx.name!r}: repository {repo.name!r} already exists as a "
                        f"{state.format} {state.type} repository, but the profile needs a docker "
                        f"{repo.rtype} of that name; it is left alone: rename the cache or "
                        "upstream, or delete that repository")
    return state


def _group_members(ctx: TargetContext, repo: DesiredRepo, actual: NexusActual) -> DesiredRepo:
    """A stranded cache (no healthy upstream) keeps its group's current order: reshuffling
    members on a dead-probe result would only move the failure around."""
    if repo.cache not in ctx.selection.stranded:
        return repo
    existing = actual.repos.get(repo.name)
    if existing is None:
        return repo
    current = [m for m in (existing.settings.get("group") or {}).get("memberNames") or []
               if m in repo.members]
    ctx.note(f"cache {repo.cache}: no healthy upstream; keeping the group's member order",
             "warning")
    return with_members(repo, current + [m for m in repo.members if m not in current])


def _marker_missing(existing: RepoState, repo: DesiredRepo, target: str) -> bool:
    return repo.rtype == "proxy" and marked_cache(existing.settings, target) is None


def _summary(state: RepoState) -> dict[str, Any]:
    """What identifies a repository about to be deleted: its remote or members, and marker."""
    view = managed_view(state.settings, state.type)
    if state.type == "group":
        return {"group": view["group"]}
    return {"proxy": {"remoteUrl": view["proxy"]["remoteUrl"]},
            "httpClient": {"connection": {
                "userAgentSuffix": view["httpClient"]["connection"]["userAgentSuffix"]}}}


def _compact(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` without unset (None) values: what a new repository shows, without noise."""
    out: dict[str, Any] = {}
    for key, value in view.items():
        if isinstance(value, dict):
            value = _compact(value)
        if value is not None and value != {}:
            out[key] = value
    return out

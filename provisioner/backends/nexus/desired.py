"""What a Nexus target must hold, computed from the profile alone (no I/O).

Per cache of the target:

- one Docker proxy ``<cache>-<upstream>`` per upstream: ``remoteUrl`` is the upstream's URL,
  ``indexType`` HUB for ``docker-hub`` and REGISTRY otherwise, the upstream's credentials, and
  failover settings (auto-block on, a short connection timeout and one retry, so a dead member
  costs one slow request and is then skipped until Nexus's re-check; a negative cache);
- one Docker group ``<cache>`` whose members are those proxies in the cache's order (for
  ``select: fastest``, the probe's latency order), with the routing the target asks for: an HTTP
  connector port from ``ports`` and/or path-based routing.

**Ownership marker.** Nexus repositories have no description or label. The one free-form
setting that survives a Nexus round trip unchanged is ``httpClient.connection.userAgentSuffix``
of a proxy, so every proxy this tool creates carries ``provisioner target=<target>
cache=<cache>`` there (plus ``auth=<fingerprint>`` when the upstream has credentials: the
salted hash of the password, to see a changed password although Nexus never returns it). It
is appended to the User-Agent Nexus sends to that upstream only, which already knows the
password. A group carries no marker; it is
owned when a marked proxy names it as its cache.

Every request body here is valid against the 3.86 spec: optional values are omitted, never null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner import secrets
from provisioner.backends.base import TargetContext
from provisioner.errors import PlanError
from provisioner.profile.model import NexusTarget
from provisioner.profile.types import reveal

MARKER = "provisioner"
DEFAULT_BLOB_STORE = "default"
CONNECTION_TIMEOUT = 15  # seconds; Nexus's default is 60, too slow for failover
CONNECTION_RETRIES = 1
MAX_AGE = 1440  # minutes, Nexus's default for content and metadata
NEGATIVE_CACHE_TTL = 60  # minutes a "not found" from one member is remembered
SECRET_FIELD = "httpClient.authentication.password"


@dataclass(frozen=True)
class DesiredRepo:
    """One Docker repository. ``body`` is the full request (it holds the upstream password);
    ``managed`` is what gets compared with the server (see :func:`managed_view`)."""

    name: str
    rtype: str  # "proxy" | "group"
    cache: str
    body: dict[str, Any]
    upstream: str | None = None
    members: tuple[str, ...] = ()

    @property
    def managed(self) -> dict[str, Any]:
        return managed_view(self.body, self.rtype)


@dataclass(frozen=True)
class NexusDesired:
    """The whole desired state of one Nexus target. ``repos`` lists proxies before groups."""

    blob_store: str
    create_blob_store: bool
    repos: tuple[DesiredRepo, ...]
    anonymous_pull: bool
    reasons: dict[str, str] = field(default_factory=dict)  # cache -> why this member order

    def repo(self, name: str) -> DesiredRepo | None:
        return next((r for r in self.repos if r.name == name), None)


def build(ctx: TargetContext) -> NexusDesired:
    """The desired state of ``ctx``'s Nexus target. Raises PlanError on a name clash."""
    spec = ctx.spec
    assert isinstance(spec, NexusTarget)
    blob_store = spec.blob_store or DEFAULT_BLOB_STORE
    proxies: list[DesiredRepo] = []
    groups: list[DesiredRepo] = []
    for cache in ctx.caches:
        members = []
        for upstream in member_order(ctx, cache):
            proxy = proxy_repo(ctx, cache, upstream, blob_store)
            proxies.append(proxy)
            members.append(proxy.name)
        groups.append(group_repo(ctx, cache, tuple(members), blob_store))
    repos = (*proxies, *groups)
    _check_unique(ctx, repos)
    reasons = {c: ctx.selection.reasons[c] for c in ctx.caches if c in ctx.selection.reasons}
    return NexusDesired(blob_store, spec.blob_store is not None, repos, spec.anonymous_pull,
                        reasons)


def member_order(ctx: TargetContext, cache: str) -> list[str]:
    """The upstreams of ``cache`` in group order: listed order, or the probe's latency order
    for ``select: fastest`` (upstreams the probe did not rank keep their listed place after)."""
    listed = list(ctx.profile.caches[cache].upstreams)
    if ctx.profile.caches[cache].select != "fastest":
        return listed
    ranked = [u for u in ctx.selection.order.get(cache, []) if u in listed]
    return ranked + [u for u in listed if u not in ranked]


def address(target: str, name: str) -> str:
    return f"nexus.{target}.repository.{name}"


def proxy_repo(ctx: TargetContext, cache: str, upstream_name: str, blob_store: str) -> DesiredRepo:
    spec = ctx.spec
    upstream = ctx.profile.upstreams[upstream_name]
    name = f"{cache}-{upstream_name}"
    marker = f"{MARKER} target={ctx.name} cache={cache}"
    http: dict[str, Any] = {"blocked": False, "autoBlock": True}
    password = reveal(upstream.password)
    if upstream.username is not None and password is not None:
        marker += f" auth={secrets.fingerprint(password, address(ctx.name, name))}"
        http["authentication"] = {"type": "username", "username": upstream.username,
                                  "password": password}
    http["connection"] = {"timeout": CONNECTION_TIMEOUT, "retries": CONNECTION_RETRIES,
                          "userAgentSuffix": marker}
    body: dict[str, Any] = {
        "name": name,
        "online": True,
        "storage": {"blobStoreName": blob_store, "strictContentTypeValidation": True},
        "proxy": {"remoteUrl": upstream.endpoint, "contentMaxAge": MAX_AGE,
                  "metadataMaxAge": MAX_AGE},
        "negativeCache": {"enabled": True, "timeToLive": NEGATIVE_CACHE_TTL},
        "httpClient": http,
        # Proxies are reached through the group: no connector, no path routing of their own
        # (nexus.md §6 step 5); the base path /repository/<name>/ still answers for debugging.
        "docker": {"v1Enabled": False, "forceBasicAuth": not spec.anonymous_pull,
                   "pathEnabled": False},
        "dockerProxy": {"indexType": "HUB" if upstream.kind == "docker-hub" else "REGISTRY",
                        "cacheForeignLayers": False, "foreignLayerUrlWhitelist": []},
    }
    return DesiredRepo(name, "proxy", cache, body, upstream=upstream_name)


def group_repo(ctx: TargetContext, cache: str, members: tuple[str, ...],
               blob_store: str) -> DesiredRepo:
    spec = ctx.spec
    docker: dict[str, Any] = {"v1Enabled": False, "forceBasicAuth": not spec.anonymous_pull,
                              "pathEnabled": spec.path_routing}
    if cache in spec.ports:
        docker["httpPort"] = spec.ports[cache]
    body: dict[str, Any] = {
        "name": cache,
        "online": True,
        "storage": {"blobStoreName": blob_store, "strictContentTypeValidation": True},
        "group": {"memberNames": list(members)},
        "docker": docker,
    }
    return DesiredRepo(cache, "group", cache, body, members=members)


def with_members(repo: DesiredRepo, members: list[str]) -> DesiredRepo:
    """``repo`` (a group) with another member list."""
    body = {**repo.body, "group": {**repo.body["group"], "memberNames": list(members)}}
    return DesiredRepo(repo.name, repo.rtype, repo.cache, body, repo.upstream, tuple(members))


def with_blob_store(repo: DesiredRepo, blob_store: str) -> DesiredRepo:
    """``repo`` on another blob store (Nexus refuses to move a repository between them)."""
    body = {**repo.body, "storage": {**repo.body["storage"], "blobStoreName": blob_store}}
    return DesiredRepo(repo.name, repo.rtype, repo.cache, body, repo.upstream, repo.members)


def managed_view(settings: dict[str, Any], rtype: str) -> dict[str, Any]:
    """The fields this tool manages, from a request body or a server's GET view alike.

    Both sides go through this one function, so what the server adds (ids, urls, unknown
    fields, nulls for unset options) never shows as a difference. The marker's fingerprint
    stands in for the write-only upstream password (see the module docstring).
    """
    storage = settings.get("storage") or {}
    docker = settings.get("docker") or {}
    view: dict[str, Any] = {
        "online": settings.get("online"),
        "storage": {"strictContentTypeValidation": storage.get("strictContentTypeValidation")},
        "docker": {
            "v1Enabled": docker.get("v1Enabled"),
            "forceBasicAuth": docker.get("forceBasicAuth"),
            "httpPort": docker.get("httpPort"),
            "httpsPort": docker.get("httpsPort"),
            "pathEnabled": docker.get("pathEnabled"),
        },
    }
    if rtype == "group":
        members = (settings.get("group") or {}).get("memberNames") or []
        view["group"] = {"memberNames": list(members)}
        return view
    proxy = settings.get("proxy") or {}
    negative = settings.get("negativeCache") or {}
    http = settings.get("httpClient") or {}
    connection = http.get("connection") or {}
    marker, fingerprint = parse_marker(connection.get("userAgentSuffix"))
    auth = http.get("authentication")
    view["proxy"] = {
        "remoteUrl": (proxy.get("remoteUrl") or "").rstrip("/") or None,
        "contentMaxAge": proxy.get("contentMaxAge"),
        "metadataMaxAge": proxy.get("metadataMaxAge"),
    }
    view["negativeCache"] = {"enabled": negative.get("enabled"),
                             "timeToLive": negative.get("timeToLive")}
    view["httpClient"] = {
        "blocked": http.get("blocked"),
        "autoBlock": http.get("autoBlock"),
        "connection": {"timeout": connection.get("timeout"), "retries": connection.get("retries"),
                       "userAgentSuffix": marker},
        "authentication": None if not auth else {
            "type": auth.get("type"), "username": auth.get("username"), "password": fingerprint,
        },
    }
    view["dockerProxy"] = {"indexType": (settings.get("dockerProxy") or {}).get("indexType")}
    return view


def parse_marker(suffix: Any) -> tuple[str | None, str | None]:
    """(``provisioner target=<t> cache=<c>`` or the suffix as found, password fingerprint) of
    a user-agent suffix; (None, None) when empty."""
    if not isinstance(suffix, str) or not suffix.strip():
        return None, None
    words = suffix.split()
    fingerprint = next((w.removeprefix("auth=") for w in words if w.startswith("auth=")), None)
    rest = " ".join(w for w in words if not w.startswith("auth="))
    return rest or None, fingerprint


def marked_cache(settings: dict[str, Any], target: str) -> str | None:
    """The cache named by this tool's marker on a proxy's settings, when the marker belongs to
    ``target``; None when unmarked or marked by another target (another profile's, or another
    team's, repositories on the same Nexus are never ours to prune)."""
    connection = (settings.get("httpClient") or {}).get("connection") or {}
    marker, _ = parse_marker(connection.get("userAgentSuffix"))
    words = (marker or "").split()
    if not words or words[0] != MARKER or f"target={target}" not in words[1:]:
        return None
    return next((w.removeprefix("cache=") for w in words[1:] if w.startswith("cache=")), None)


def _check_unique(ctx: TargetContext, repos: tuple[DesiredRepo, ...]) -> None:
    """Two repositories of one name (ignoring case, as Nexus does), or two groups on one port."""
    seen: dict[str, DesiredRepo] = {}
    for repo in repos:
        other = seen.setdefault(repo.name.lower(), repo)
        if other is not repo:
            raise PlanError(
                f"nexus target {ctx.name!r}: {_what(other)} and {_what(repo)} would both be named "
                f"{repo.name!r}; rename a cache or an upstream")
    ports: dict[int, str] = {}
    for cache, port in ctx.spec.ports.items():
        if port in ports:
            raise PlanError(f"nexus target {ctx.name!r}: ports of caches {ports[port]!r} and "
                            f"{cache!r} are both {port}; each group needs its own connector port")
        ports[port] = cache


def _what(repo: DesiredRepo) -> str:
    if repo.rtype == "group":
        return f"the group of cache {repo.cache!r}"
    return f"the proxy of cache {repo.cache!r} for upstream {repo.upstream!r}"

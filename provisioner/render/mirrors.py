"""Which addresses a client should try for each registry, in order: the caches, then the upstreams.

This is the pure half of the client configs: from the profile and the selection it computes, per
registry a cache mirrors (``docker.io``, ``ghcr.io``...), the ordered list of
:class:`MirrorEndpoint`. The format renderers (``client_files``) only print these.

How a cache is reached depends on the target that holds it:

- Registry (Distribution): ``http://<listen>`` of that cache's instance (a ``0.0.0.0`` listen is
  given as 127.0.0.1, with a note: set ``clients.addresses`` for clients on other machines);
- Nexus: the group's HTTP connector ``http://<host>:<ports[cache]>``, else (path routing) the
  group as a path prefix ``<url>/v2/<cache>``;
- Harbor: the proxy project as a path prefix ``<url>/v2/<cache>``.

``clients.addresses`` (``<target>`` or ``<target>/<cache>``) replaces the scheme, host and port.
Upstreams follow in each cache's use order, except those equal to the registry's own default
endpoint (``registry-1.docker.io`` for ``docker.io``): every client falls back to it anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from provisioner.backends.base import TargetContext
from provisioner.errors import PlanError
from provisioner.profile.model import (
    Clients,
    HarborTarget,
    NexusTarget,
    RegistryTarget,
    TlsOptions,
    Upstream,
)
from provisioner.profile.types import reveal

DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class MirrorEndpoint:
    """One place a client may pull a registry's images from.

    ``root`` is ``scheme://host[:port]``; ``prefix`` is the path segment in front of image names
    for path-prefixed caches (a Harbor project, a Nexus group with path routing), else None.
    ``trusted`` endpoints may resolve tags to digests (containerd ``resolve``).
    """

    root: str
    source: str
    prefix: str | None = None
    insecure: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    trusted: bool = True

    @property
    def scheme(self) -> str:
        return urlsplit(self.root).scheme

    @property
    def host(self) -> str:
        """``host[:port]``: registries.conf locations and k3s ``configs`` keys use it."""
        return urlsplit(self.root).netloc

    @property
    def api_url(self) -> str:
        """The URL containerd and k3s take: the root, or ``<root>/v2/<prefix>`` (override_path)."""
        return self.root if self.prefix is None else f"{self.root}/v2/{self.prefix}"

    @property
    def location(self) -> str:
        """The registries.conf mirror location: ``host[:port][/prefix]``."""
        return self.host if self.prefix is None else f"{self.host}/{self.prefix}"


def default_endpoint(registry: str) -> str:
    """The endpoint clients use for ``registry`` when every mirror failed."""
    return "https://registry-1.docker.io" if registry in DOCKER_HUB_NAMES else f"https://{registry}"


def mirror_lists(ctx: TargetContext) -> dict[str, list[MirrorEndpoint]]:
    """Registry -> endpoints in try order (caches first, then upstreams), deduplicated."""
    spec = ctx.spec
    assert isinstance(spec, Clients)
    _check_address_keys(ctx, spec)
    by_registry: dict[str, list[MirrorEndpoint]] = {}
    upstreams: dict[str, list[MirrorEndpoint]] = {}
    for cache_name, cache in ctx.profile.caches.items():
        caches = by_registry.setdefault(cache.mirrors, [])
        for target_name in ctx.profile.targets:
            if cache_name in ctx.profile.target_caches(target_name):
                endpoint = cache_endpoint(ctx, spec, target_name, cache_name)
                if endpoint is not None:
                    caches.append(endpoint)
        if not spec.include_upstreams:
            continue
        for name in ctx.selection.order.get(cache_name, cache.upstreams):
            endpoint = upstream_endpoint(ctx, name, ctx.profile.upstreams[name], cache.mirrors,
                                         spec.trust_upstreams)
            if endpoint is not None:
                upstreams.setdefault(cache.mirrors, []).append(endpoint)
    out: dict[str, list[MirrorEndpoint]] = {}
    for registry, caches in by_registry.items():
        seen: set[str] = set()
        ordered = []
        for endpoint in [*caches, *upstreams.get(registry, [])]:
            if endpoint.api_url not in seen:
                seen.add(endpoint.api_url)
                ordered.append(endpoint)
        out[registry] = ordered
    return out


def cache_endpoint(ctx: TargetContext, spec: Clients, target_name: str,
                   cache: str) -> MirrorEndpoint | None:
    """How clients reach ``cache`` on ``target_name`` (None, with a note, when they cannot)."""
    target = ctx.profile.targets[target_name]
    source = f"cache {cache} on {target.kind} target {target_name}"
    override = spec.addresses.get(f"{target_name}/{cache}") or spec.addresses.get(target_name)
    prefix: str | None = None
    if isinstance(target, RegistryTarget):
        host, _, port = ctx.profile.registry_listen(target_name)[cache].rpartition(":")
        if host in ("0.0.0.0", "[::]", "::") and override is None:
            ctx.note(f"{source} listens on all interfaces; clients are pointed at loopback "
                     f"(set clients.addresses.{target_name} for other machines)")
            host = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        root = f"http://{host}:{port}"
    elif isinstance(target, NexusTarget):
        parts = urlsplit(target.url)
        if cache in target.ports:
            root = f"http://{parts.hostname}:{target.ports[cache]}"
        elif target.path_routing:
            root, prefix = _root(target.url, source), cache
        else:
            ctx.note(f"{source} has no client address: give ports.{cache} or path_routing: true",
                     "warning")
            return None
    elif isinstance(target, HarborTarget):
        root, prefix = _root(target.url, source), cache
    else:  # pragma: no cover - the profile admits no other kind
        return None
    if override is not None:
        root = _root(override, source)
    insecure, ca_file = _tls(target)
    return MirrorEndpoint(root, source, prefix, insecure, ca_file)


def upstream_endpoint(ctx: TargetContext, name: str, upstream: Upstream, registry: str,
                      trusted: bool) -> MirrorEndpoint | None:
    """An upstream as a mirror of ``registry``, or None when clients reach it anyway."""
    url = upstream.endpoint
    hub = upstream.kind == "docker-hub" and registry in DOCKER_HUB_NAMES
    if url == default_endpoint(registry) or hub:
        return None  # the registry itself: every client falls back to it after the mirrors
    if urlsplit(url).path:
        ctx.note(f"upstream {name} ({url}) has a path; mirror lists take host roots only, "
                 "so clients skip it")
        return None
    insecure, ca_file = _tls(upstream)
    return MirrorEndpoint(url, f"upstream {name} ({upstream.kind})", None, insecure, ca_file,
                          upstream.username, reveal(upstream.password), trusted)


def _root(url: str, source: str) -> str:
    parts = urlsplit(url)
    if parts.path:
        raise PlanError(f"{source}: {url} has a path; a client address must be "
                        "scheme://host[:port] (set clients.addresses for it)")
    return f"{parts.scheme}://{parts.netloc}"


def _tls(options: TlsOptions) -> tuple[bool, str | None]:
    return options.insecure, str(options.ca_file) if options.ca_file else None


def _check_address_keys(ctx: TargetContext, spec: Clients) -> None:
    valid = set(ctx.profile.targets)
    valid |= {f"{t}/{c}" for t in ctx.profile.targets for c in ctx.profile.target_caches(t)}
    for key in spec.addresses:
        if key not in valid:
            raise PlanError(f"clients.addresses: {key!r} names no target or target/cache "
                            f"(known: {', '.join(sorted(valid)) or 'none'})")

"""Registry (CNCF Distribution) target: one pull-through cache instance per cache, as files.

Distribution proxies exactly one remote and panics at start-up when that remote is down, so the
generated ``proxy.remoteurl`` is the cache's *active* upstream (first healthy, or fastest), and a
cache whose upstreams are all down keeps the remote it already has rather than being switched
onto a dead one. The ``http.secret`` is kept across runs (read from the existing config) so that
re-applying never changes a file that needs no change.
"""

from __future__ import annotations

import secrets as random_secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provisioner import secrets
from provisioner.backends.base import TargetContext
from provisioner.backends.files import ActualFile, FileBackend, FileSpec, plan_file, read_file
from provisioner.backends.registry.config import (
    InstanceSpec,
    render_compose,
    render_config,
    render_env,
)
from provisioner.plan import Change
from provisioner.profile.model import RegistryTarget
from provisioner.profile.types import reveal


@dataclass(frozen=True)
class CacheFiles:
    """Where one cache instance's files live."""

    cache: str
    directory: Path

    @property
    def config(self) -> Path:
        return self.directory / "config.yml"

    @property
    def env(self) -> Path:
        return self.directory / "registry.env"

    @property
    def compose(self) -> Path:
        return self.directory / "compose.yaml"


@dataclass(frozen=True)
class Existing:
    """What the current files say: the secret to keep and the remote in use (None if absent)."""

    files: dict[Path, ActualFile]
    http_secret: dict[str, str]
    remote_url: dict[str, str | None]


class RegistryBackend(FileBackend):
    kind = "registry"

    def desired(self, ctx: TargetContext) -> list[CacheFiles]:
        spec = _spec(ctx)
        return [CacheFiles(cache, spec.output / cache) for cache in ctx.caches]

    def read_actual(self, client: None, ctx: TargetContext, desired: Any) -> Existing:  # type: ignore[override]
        files: dict[Path, ActualFile] = {}
        http_secret: dict[str, str] = {}
        remote: dict[str, str | None] = {}
        for item in desired:
            for path in (item.config, item.env, item.compose):
                files[path] = read_file(path)
            current = _parse_config(files[item.config])
            # Keep the secret already in use; mint one (at the I/O edge) only for a new instance.
            http_secret[item.cache] = current.get("secret") or random_secrets.token_urlsafe(32)
            remote[item.cache] = current.get("remoteurl")
        return Existing(files, http_secret, remote)

    def plan(self, ctx: TargetContext, desired: list[CacheFiles], actual: Existing) -> list[Change]:
        spec = _spec(ctx)
        listen = ctx.profile.registry_listen(ctx.name)
        changes: list[Change] = []
        for item in desired:
            instance = self._instance(ctx, spec, item.cache, listen[item.cache], actual)
            secrets.register(instance.http_secret)
            wanted: list[tuple[Path, str | None, bool]] = [
                # config.yml always holds http.secret (the key Distribution signs upload
                # state with), so it is a secret file: 0600, like registry.env.
                (item.config, render_config(instance), True),
                (item.env, render_env(instance), True),
                (item.compose, render_compose(instance), False),
            ]
            for path, content, secret in wanted:
                if content is None:
                    continue  # an env file the profile no longer needs is left alone, not deleted
                address = f"registry.{ctx.name}.{item.cache}/{path.name}"
                reason = ctx.selection.reasons.get(item.cache, "")
                changes.append(
                    plan_file(
                        FileSpec(path, content, secret),
                        actual.files[path],
                        ctx.name,
                        address,
                        reason=reason,
                    )
                )
        return changes

    def _instance(
        self, ctx: TargetContext, spec: RegistryTarget, cache: str, listen: str, actual: Existing
    ) -> InstanceSpec:
        current = actual.remote_url[cache]
        if cache in ctx.selection.stranded and current is not None:
            # Every upstream is down: keep the remote in use (Distribution panics at start-up on
            # an unreachable remote; switching would turn a degraded cache into a dead one).
            ctx.note(f"cache {cache}: no healthy upstream; keeping {current}", "warning")
            kept = _upstream_by_url(ctx, cache, current)
            upstream = ctx.profile.upstreams[kept] if kept else None
            remote = current
        else:
            upstream = ctx.profile.upstreams[ctx.selection.active[cache]]
            remote = upstream.endpoint
            if cache in ctx.selection.stranded:
                ctx.note(f"cache {cache}: no healthy upstream; writing {remote} anyway, but a "
                         "registry started on it fails until that upstream answers", "warning")
        return InstanceSpec(
            target=ctx.name,
            cache=cache,
            listen=listen,
            storage=spec.storage,
            remote_url=remote,
            http_secret=reveal(spec.http_secret) or actual.http_secret[cache],
            username=upstream.username if upstream else None,
            password=reveal(upstream.password) if upstream else None,
            password_inline=spec.secrets == "inline",
            ttl=spec.ttl,
            image=spec.image,
        )


def _spec(ctx: TargetContext) -> RegistryTarget:
    assert isinstance(ctx.spec, RegistryTarget)
    return ctx.spec


def _upstream_by_url(ctx: TargetContext, cache: str, url: str) -> str | None:
    for name in ctx.profile.caches[cache].upstreams:
        if ctx.profile.upstreams[name].endpoint == url.rstrip("/"):
            return name
    return None


def _parse_config(actual: ActualFile) -> dict[str, str]:
    """The ``http.secret`` and ``proxy.remoteurl`` of an existing config (empty if unreadable)."""
    if not actual.content:
        return {}
    try:
        doc = yaml.safe_load(actual.content)
    except yaml.YAMLError:
        return {}
    if not isinstance(doc, dict):
        return {}
    out: dict[str, str] = {}
    http, proxy = doc.get("http"), doc.get("proxy")
    if isinstance(http, dict) and isinstance(http.get("secret"), str):
        out["secret"] = http["secret"]
    if isinstance(proxy, dict) and isinstance(proxy.get("remoteurl"), str):
        out["remoteurl"] = proxy["remoteurl"]
    return out

"""The ``clients`` unit: mirror configs that point Docker, containerd, podman and k3s at the caches.

Files go under ``clients.output``, one directory per format (see ``client_files``), and are
planned like every generated file: create, update shown as a unified diff, or no-op. The k3s
``registries.yaml`` is written 0600 when it holds an upstream's credentials. Addresses are
``clients.<format>/<file>`` (``clients.containerd/docker.io/hosts.toml``).

The order is the product: each registry's caches first (in profile order, on every target that
holds them), then the upstreams in each cache's use order (``ctx.selection.order``), so a client
that cannot reach its cache still pulls through the same upstreams the cache would have used.
"""

from __future__ import annotations

from pathlib import Path

from provisioner import secrets
from provisioner.backends.base import TargetContext
from provisioner.backends.files import ActualFile, FileBackend, FileSpec
from provisioner.plan import Change
from provisioner.profile.model import Clients
from provisioner.render import client_files as render
from provisioner.render.mirrors import MirrorEndpoint, mirror_lists


class ClientsBackend(FileBackend):
    kind = "clients"

    def desired(self, ctx: TargetContext) -> dict[str, FileSpec]:
        spec = ctx.spec
        assert isinstance(spec, Clients)
        mirrors = mirror_lists(ctx)
        for endpoints in mirrors.values():
            for endpoint in endpoints:
                secrets.register(endpoint.password)
        files: dict[str, FileSpec] = {}
        for fmt in spec.formats:
            for relative, content, secret in _format_files(fmt, mirrors, spec):
                address = f"clients.{relative.parts[0]}/{'/'.join(relative.parts[1:])}"
                if fmt == "containerd":  # certs.d/ is the same in every address: leave it out
                    address = f"clients.containerd/{'/'.join(relative.parts[2:])}"
                files[address] = FileSpec(spec.output / relative, content, secret)
        if "docker" in spec.formats:
            for endpoint in render.docker_skipped(mirrors):
                ctx.note(f"{endpoint.source} is path-prefixed ({endpoint.api_url}); Docker's "
                         "registry-mirrors takes host roots only, so daemon.json leaves it out")
        return files

    def plan(self, ctx: TargetContext, desired: dict[str, FileSpec],
             actual: dict[str, ActualFile]) -> list[Change]:
        return self.plan_files(ctx.name, desired, actual)


def _format_files(fmt: str, mirrors: dict[str, list[MirrorEndpoint]],
                  spec: Clients) -> list[tuple[Path, str, bool]]:
    """(path relative to the output, content, secret) of one format's files."""
    if fmt == "docker":
        return [(Path(render.DOCKER_PATH), render.render_docker(mirrors), False)]
    if fmt == "containerd":
        return [(Path(render.containerd_path(registry)),
                 render.render_containerd(registry, endpoints, spec.dial_timeout), False)
                for registry, endpoints in mirrors.items()]
    if fmt == "podman":
        return [(Path(render.PODMAN_PATH), render.render_podman(mirrors), False)]
    if fmt == "k3s":
        return [(Path(render.K3S_PATH), render.render_k3s(mirrors), render.k3s_has_secret(mirrors))]
    raise AssertionError(f"unknown client format {fmt}")  # the profile admits no other

"""The ``upstreams`` unit: generated proxies for the upstreams the profile says you host.

Every upstream with a ``deploy:`` block becomes files, planned like any other resource
(create / unified-diff update / no-op):

- ``kind: nginx``             -> ``<output>/<upstream>.conf`` (an nginx ``server``);
- ``kind: cloudflare-worker`` -> ``<output>/worker.js`` and ``<output>/wrangler.toml``.

Addresses are ``upstreams.<upstream>/<file>``. Nothing here holds a secret (TLS keys are
referenced by path, Cloudflare credentials never written), so every file is 0644.
"""

from __future__ import annotations

from provisioner.backends.base import TargetContext
from provisioner.backends.files import ActualFile, FileBackend, FileSpec
from provisioner.errors import PlanError
from provisioner.plan import Change
from provisioner.profile.model import NginxDeploy, Upstream, WorkerDeploy
from provisioner.render import nginx, worker


class UpstreamsBackend(FileBackend):
    kind = "upstreams"

    def desired(self, ctx: TargetContext) -> dict[str, FileSpec]:
        files: dict[str, FileSpec] = {}
        owners: dict[str, str] = {}
        for name, upstream in ctx.profile.upstreams.items():
            for filename, spec in upstream_files(name, upstream).items():
                other = owners.setdefault(str(spec.path), name)
                if other != name:
                    raise PlanError(
                        f"upstreams {other} and {name} would both write {spec.path}; "
                        "give their deploy blocks different output directories"
                    )
                files[f"upstreams.{name}/{filename}"] = spec
            if isinstance(upstream.deploy, NginxDeploy) and upstream.deploy.upstream_ca is None:
                ctx.note(f"upstream {name}: nginx will not verify the TLS certificates of "
                         f"{upstream.deploy.registry} and its CDN (upstream_ca is null)", "warning")
        return files

    def plan(self, ctx: TargetContext, desired: dict[str, FileSpec],
             actual: dict[str, ActualFile]) -> list[Change]:
        return self.plan_files(ctx.name, desired, actual)


def upstream_files(name: str, upstream: Upstream) -> dict[str, FileSpec]:
    """File name -> spec for one upstream (empty without a ``deploy`` block). Pure."""
    deploy = upstream.deploy
    if isinstance(deploy, NginxDeploy):
        filename = nginx.config_file_name(name)
        text = nginx.render_nginx(name, upstream, deploy)
        return {filename: FileSpec(deploy.output / filename, text)}
    if isinstance(deploy, WorkerDeploy):
        return {
            worker.SCRIPT: FileSpec(deploy.output / worker.SCRIPT, worker.render_script(name)),
            worker.WRANGLER: FileSpec(deploy.output / worker.WRANGLER,
                                      worker.render_wrangler(name, upstream, deploy)),
        }
    return {}

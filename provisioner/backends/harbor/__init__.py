"""Harbor target: one ``docker-registry`` endpoint and one proxy-cache project per cache.

Failover is a URL swap of the endpoint (a proxy project's endpoint can never change, an
endpoint's URL can), so the project and its cache survive an upstream change. Modules:
``client`` (HTTP), ``bootstrap`` (credential check, fresh-instance password rotation),
``desired`` (pure desired state), ``actual`` (reads and reachability pings), ``planner``
(pure plan), ``apply`` (one change at a time). See docs/harbor.md.
"""

from __future__ import annotations

from provisioner.backends.base import TargetContext
from provisioner.backends.harbor import actual as actual_state
from provisioner.backends.harbor import apply as executor
from provisioner.backends.harbor import bootstrap, desired, planner
from provisioner.backends.harbor.actual import Actual
from provisioner.backends.harbor.client import HarborClient
from provisioner.backends.harbor.desired import Desired
from provisioner.http import Tls
from provisioner.plan import Change
from provisioner.profile.model import HarborTarget


class HarborBackend:
    """The backend surface of provisioner/backends/base.py for ``kind: harbor`` targets."""

    kind = "harbor"

    def connect(self, ctx: TargetContext) -> HarborClient:
        spec = ctx.spec
        assert isinstance(spec, HarborTarget)
        return HarborClient(spec.url, spec.username, spec.password.get_secret_value(),
                            tls=Tls(spec.insecure, spec.ca_file), timeout=spec.timeout,
                            name=f"Harbor target {ctx.name}", parallelism=ctx.options.parallelism)

    def prepare(self, client: HarborClient, ctx: TargetContext) -> list[Change]:
        return bootstrap.prepare(client, ctx)

    def desired(self, ctx: TargetContext) -> Desired:
        return desired.build(ctx)

    def read_actual(self, client: HarborClient, ctx: TargetContext, desired: Desired) -> Actual:
        return actual_state.read(client, ctx, desired)

    def plan(self, ctx: TargetContext, desired: Desired, actual: Actual) -> list[Change]:
        return planner.plan(ctx, desired, actual)

    def apply(self, client: HarborClient, change: Change) -> None:
        executor.apply(client, change)


__all__ = ["HarborBackend"]

"""Sonatype Nexus Repository 3 target, through the REST API only (no Groovy scripts).

Each cache becomes Docker proxies ``<cache>-<upstream>`` and a Docker group ``<cache>`` listing
them in failover order (:mod:`.desired`); the actual state is read in a constant number of
requests (:mod:`.actual`); :mod:`.planner` diffs the two and :mod:`.bootstrap` readies a fresh
instance. :mod:`.client` is the only module that sends requests.
"""

from __future__ import annotations

from provisioner.backends.base import TargetContext
from provisioner.backends.nexus import actual as actual_state
from provisioner.backends.nexus import bootstrap, desired, planner
from provisioner.backends.nexus.actual import NexusActual
from provisioner.backends.nexus.client import NexusClient
from provisioner.backends.nexus.desired import NexusDesired
from provisioner.backends.nexus.planner import AnonymousOp, BlobStoreOp, RealmsOp, RepoOp
from provisioner.errors import HttpStatusError
from provisioner.http import Tls
from provisioner.plan import Change
from provisioner.profile.model import NexusTarget
from provisioner.profile.types import reveal


class NexusBackend:
    kind = "nexus"

    def connect(self, ctx: TargetContext) -> NexusClient:
        spec = ctx.spec
        assert isinstance(spec, NexusTarget)
        return NexusClient(spec.url, auth=(spec.username, reveal(spec.password) or ""),
                           tls=Tls(spec.insecure, spec.ca_file), timeout=spec.timeout,
                           name=f"nexus target {ctx.name!r}")

    def prepare(self, client: NexusClient, ctx: TargetContext) -> list[Change]:
        return bootstrap.prepare(client, ctx)

    def desired(self, ctx: TargetContext) -> NexusDesired:
        return desired.build(ctx)

    def read_actual(self, client: NexusClient, ctx: TargetContext,
                    want: NexusDesired) -> NexusActual:
        return actual_state.read(client, want, ctx.options.parallelism)

    def plan(self, ctx: TargetContext, want: NexusDesired, have: NexusActual) -> list[Change]:
        return planner.plan(ctx, want, have)

    def apply(self, client: NexusClient, change: Change) -> None:
        op = change.payload
        if bootstrap.apply(client, change):
            return
        if isinstance(op, RepoOp):
            if op.verb == "create":
                _create(client, op)
            elif op.verb == "update":
                client.update_docker(op.rtype, op.name, op.body)
            else:
                client.delete_repository(op.name)
        elif isinstance(op, BlobStoreOp):
            client.create_file_blobstore(op.name, op.name)
        elif isinstance(op, RealmsOp):
            # Read-modify-write at apply time: a realm added since planning is kept too.
            realms = client.active_realms()
            missing = [r for r in op.append if r not in realms]
            if missing:
                client.set_active_realms([*realms, *missing])
        elif isinstance(op, AnonymousOp):
            client.set_anonymous(op.settings)
        else:  # pragma: no cover - a planner bug, not a user error
            raise TypeError(f"{change.address}: no Nexus operation for {type(op).__name__}")


def _create(client: NexusClient, op: RepoOp) -> None:
    """Create a repository; when its name is taken meanwhile, make the one there match.

    Nexus answers a taken name with a 400 (nexus.md: no 409). Another apply running at the
    same time, or a create whose answer was lost, made it: a docker repository of the same type
    is updated to this body (the planner adopts an existing one the same way); anything else
    keeps the original error.
    """
    try:
        client.create_docker(op.rtype, op.body)
    except HttpStatusError as exc:
        if exc.status != 400 or client.docker_repository(op.rtype, op.name) is None:
            raise
        client.update_docker(op.rtype, op.name, op.body)


__all__ = ["NexusBackend"]

"""Bootstrap a fresh Nexus (nexus.md §2): wait until writable, set the admin password, accept
the Community Edition EULA. Realms and anonymous access follow as ordinary planned changes.

Planning the bootstrap only reads:

1. ``GET /v1/status/writable`` until 200 (no auth), for at most ``bootstrap.wait``;
2. the target's credentials are tried; on 401 the initial password (``initial_password``, or the
   file Nexus writes on first start, ``/nexus-data/admin.password``) is tried instead, and when
   it works the password change is planned and the rest of the plan is read with it;
3. ``GET /v1/system/eula``: not accepted and ``accept_eula: true`` plans the acceptance,
   echoing the server's disclaimer exactly; 404 means the server needs none (before 3.77).

On a bootstrapped instance step 2 succeeds at once and step 3 finds the EULA accepted, so the
bootstrap plans nothing. Both changes are idempotent across failures: until the password change
succeeds the initial password still works, and the EULA is read again on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioner import secrets
from provisioner.backends.base import TargetContext
from provisioner.backends.nexus.client import NexusClient
from provisioner.errors import PlanError, Unauthorized
from provisioner.plan import Action, Change, FieldDiff
from provisioner.profile.model import NexusBootstrap, NexusTarget
from provisioner.profile.types import reveal


@dataclass(frozen=True)
class PasswordOp:
    """Change ``user``'s password from ``initial`` to ``new`` (both secret, never rendered)."""

    user: str
    initial: str
    new: str


@dataclass(frozen=True)
class EulaOp:
    disclaimer: str


def prepare(client: NexusClient, ctx: TargetContext) -> list[Change]:
    """The bootstrap changes of ``ctx``'s target (empty once bootstrapped). Reads only."""
    spec = ctx.spec
    assert isinstance(spec, NexusTarget)
    boot = spec.bootstrap
    if boot is None:
        return []
    client.wait_writable(boot.wait)
    changes: list[Change] = []
    target = (spec.username, reveal(spec.password) or "")
    if not client.credentials_work(target):
        initial = initial_password(ctx.name, boot)
        secrets.register(initial)
        login = (spec.username, initial)
        if not client.credentials_work(login):
            raise PlanError(
                f"nexus target {ctx.name!r}: neither the password nor the initial password is "
                f"accepted for user {spec.username!r} at {client.base_url}; set password to the "
                "admin password the instance has now")
        client.auth = login  # read the rest of the plan as the initial admin
        changes.append(Change(
            f"nexus.{ctx.name}.bootstrap.admin-password", Action.UPDATE, ctx.name,
            "nexus_admin_password", "fresh instance: the initial admin password still works",
            (FieldDiff("password", "(initial)", "(sensitive)", sensitive=True),),
            before={"password": "(initial)"}, after={"password": "(sensitive)"},
            sensitive_fields=frozenset({"password"}),
            payload=PasswordOp(spec.username, initial, target[1])))
    status = client.eula()
    if status is not None and status.get("accepted") is not True:
        disclaimer = status.get("disclaimer")
        if not boot.accept_eula:
            ctx.note("the Community Edition EULA is not accepted: Nexus refuses content requests "
                     "(docker pulls) until it is; set bootstrap.accept_eula: true", "warning")
        elif not isinstance(disclaimer, str) or not disclaimer:
            raise PlanError(f"nexus target {ctx.name!r}: the EULA status has no disclaimer to "
                            "accept; accept the EULA in the web UI")
        else:
            changes.append(Change(
                f"nexus.{ctx.name}.bootstrap.eula", Action.UPDATE, ctx.name, "nexus_eula",
                "bootstrap.accept_eula: true", (FieldDiff("accepted", False, True),),
                before={"accepted": False}, after={"accepted": True},
                depends_on=tuple(c.address for c in changes), payload=EulaOp(disclaimer)))
    return changes


def initial_password(target: str, boot: NexusBootstrap) -> str:
    """The initial admin password from the profile or the file Nexus wrote; PlanError if none."""
    value = reveal(boot.initial_password)
    if value:
        return value
    path = boot.initial_password_file
    if path is None:
        raise PlanError(f"nexus target {target!r}: the password is not accepted, and bootstrap "
                        "gives no initial_password or initial_password_file to log in with")
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise PlanError(
            f"nexus target {target!r}: the password is not accepted, and {path} does not exist "
            "(Nexus deletes it once the admin password is changed; if this instance is already "
            "set up, put its admin password in the profile)") from None
    except OSError as exc:
        raise PlanError(f"nexus target {target!r}: cannot read {path}: {exc.strerror}") from None
    if not text:
        raise PlanError(f"nexus target {target!r}: {path} is empty")
    return text


def apply(client: NexusClient, change: Change) -> bool:
    """Execute a bootstrap change; False when ``change`` is not one."""
    op = change.payload
    if isinstance(op, PasswordOp):
        try:
            client.change_password(op.user, op.new, auth=(op.user, op.initial))
        except Unauthorized:
            # The initial password stopped working since planning: the change was made (by an
            # apply running at the same time, or by this one when its answer was lost and the
            # retry went out with the old password). Done if the new password works now.
            if not client.credentials_work((op.user, op.new)):
                raise
        client.auth = (op.user, op.new)  # everything after this runs with the new password
        return True
    if isinstance(op, EulaOp):
        client.accept_eula(op.disclaimer)
        return True
    return False

"""Before planning a Harbor target: wait for a fresh instance, check the credentials, rotate the
initial admin password, read the version.

Harbor does not reject wrong credentials: the request silently becomes anonymous (harbor.md §1),
and an anonymous ``GET /projects`` lists the public projects as if nothing were wrong. So the
credentials are checked with ``GET /users/current`` (401 when anonymous) before anything else.

With ``bootstrap:`` set, the target may be a fresh install whose admin still has the install-time
password. Then this module waits for ``/ping`` and ``/health``, logs in with
``bootstrap.initial_password`` and returns a password-rotation :class:`Change`; until it runs
(``apply``), the reads of the plan use the initial password, so ``diff`` on a fresh instance
shows the rotation and the whole plan without writing anything. Once rotated, the target
password works on the first try and this module returns no change.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from provisioner.backends import DEFAULT_PARALLELISM
from provisioner.backends.base import TargetContext
from provisioner.backends.harbor.client import HarborClient, credentials_error, parse_version
from provisioner.errors import ApiError, PlanError, Unauthorized
from provisioner.plan import Action, Change, FieldDiff
from provisioner.profile.model import HarborTarget
from provisioner.profile.types import reveal

log = logging.getLogger(__name__)

LOGIN_LOCK = 1.6  # Harbor locks a username for 1.5 s after a failed login (harbor.md §1)
POLL = 2.0


@dataclass(frozen=True)
class RotatePassword:
    user_id: int
    username: str
    old: str = field(repr=False)
    new: str = field(repr=False)


def prepare(client: HarborClient, ctx: TargetContext) -> list[Change]:
    """Check access (bootstrapping a fresh instance if configured); set ``client.version``."""
    spec = ctx.spec
    assert isinstance(spec, HarborTarget)
    changes: list[Change] = []
    if spec.bootstrap is not None:
        wait_ready(client, ctx.name, spec.bootstrap.wait, ctx.options.parallelism)
    started = time.monotonic()
    user = client.current_user()
    if user is None:
        if spec.bootstrap is None:
            raise credentials_error(client, ctx.name)
        # The failed login locked the username for 1.5 s; Harbor's failing request itself
        # sleeps through most of the lock, so wait only for what is left of it.
        time.sleep(max(0.0, LOGIN_LOCK - (time.monotonic() - started)))
        initial = (spec.username, reveal(spec.bootstrap.initial_password) or "")
        user = client.current_user(auth=initial)
        if user is None:
            raise credentials_error(client, ctx.name, " nor bootstrap.initial_password")
        client.auth = initial  # reads of the plan run as the fresh admin until the rotation
        changes.append(_rotation(ctx, user, initial[1], spec.password.get_secret_value()))
    if not user.get("sysadmin_flag") and not user.get("admin_role_in_auth"):
        raise PlanError(
            f"harbor target {ctx.name!r}: user {spec.username!r} is not a Harbor "
            "system admin; only a system admin can create proxy-cache projects"
        )
    client.version = parse_version(str(client.system_info().get("harbor_version") or ""))
    if client.version is None:
        ctx.note("Harbor did not report its version; assuming it has every feature", "warning")
    return changes


def _rotation(ctx: TargetContext, user: dict[str, Any], old: str, new: str) -> Change:
    username = str(user.get("username") or ctx.spec.username)
    return Change(
        address=f"harbor.{ctx.name}.user.{username}",
        action=Action.UPDATE,
        target=ctx.name,
        resource_type="harbor_user_password",
        reason="fresh instance: rotate the initial password to the profile's",
        diffs=(FieldDiff("password", None, None, sensitive=True),),
        before={"password": None},
        after={"password": None},
        sensitive_fields=frozenset({"password"}),
        payload=RotatePassword(int(user.get("user_id") or 1), username, old, new),
    )


def rotate(client: HarborClient, rotation: RotatePassword) -> None:
    """Run the rotation; later requests of this run use the new password."""
    new = (rotation.username, rotation.new)
    try:
        client.change_password(
            rotation.user_id, rotation.old, rotation.new, auth=(rotation.username, rotation.old)
        )
    except Unauthorized:
        # The old password stopped working since planning: an apply running at the same time
        # (or this one, its answer lost) rotated it. Done if the new password works now.
        if client.current_user(auth=new) is None:
            raise
    client.auth = new


def wait_ready(
    client: HarborClient, target: str, timeout: float, parallelism: int = DEFAULT_PARALLELISM
) -> None:
    """Wait until ``/ping`` answers and ``/health`` says healthy (it is always 200, §2).

    Both are asked at once (one round trip to a far server, not two), one after the other at
    ``parallelism`` 1; /health counts only when /ping answered.
    """
    deadline = time.monotonic() + timeout
    problem = "no answer to /ping"
    while True:
        alive, answer = _ping_and_health(client, parallelism)
        if alive:
            if isinstance(answer, ApiError):
                problem = str(answer)
            elif answer.get("status") == "healthy":
                return
            else:
                problem = "unhealthy components: " + (
                    ", ".join(
                        str(c.get("name"))
                        for c in answer.get("components", [])
                        if isinstance(c, dict) and c.get("status") != "healthy"
                    )
                    or "unknown"
                )
        if time.monotonic() + POLL > deadline:
            raise PlanError(
                f"harbor target {target!r}: Harbor at {client.root} is not ready after "
                f"{timeout:g}s ({problem}); raise bootstrap.wait or check the instance"
            )
        log.info("%s: waiting for Harbor (%s)", target, problem)
        time.sleep(POLL)


def _ping_and_health(
    client: HarborClient, parallelism: int
) -> tuple[bool, dict[str, Any] | ApiError]:
    """(``/ping`` answered, ``/health`` body or its error)."""

    def health() -> dict[str, Any] | ApiError:
        try:
            return client.health()
        except ApiError as exc:
            return exc

    if parallelism < 2:
        return (True, health()) if client.ping() else (False, {})
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(health)
        alive = client.ping()
        return alive, answer.result()

"""Bootstrap planning and applying against canned responses (reads only while planning)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from requests import PreparedRequest

from provisioner import secrets
from provisioner.backends.base import TargetContext
from provisioner.backends.nexus import NexusBackend, bootstrap
from provisioner.backends.nexus.client import NexusClient
from provisioner.errors import PlanError
from provisioner.plan import Action
from tests.unit.test_nexus_desired import make_ctx

URL = "http://127.0.0.1:9/service/rest"
DISCLAIMER = "Use of \u2018accepted:false\u2019 \u2026"


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{URL}/v1/status/writable", status=200)
        yield rsps


def ctx_with(boot: str) -> tuple[TargetContext, NexusClient]:
    ctx = make_ctx(extra=f"    bootstrap: {boot}")
    return ctx, NexusBackend().connect(ctx)


def login(mocked: responses.RequestsMock, accepted: set[str]) -> None:
    """realms/active answers 200 for the passwords in ``accepted``, 401 otherwise."""

    def reply(request: PreparedRequest) -> tuple[int, dict[str, str], str]:
        password = (
            base64.b64decode(request.headers["Authorization"].split()[1]).decode().split(":", 1)[1]
        )
        return (200, {}, '["NexusAuthenticatingRealm"]') if password in accepted else (401, {}, "")

    mocked.add_callback(responses.GET, f"{URL}/v1/security/realms/active", callback=reply)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def eula(mocked: responses.RequestsMock, accepted: bool | None) -> None:
    if accepted is None:
        mocked.get(f"{URL}/v1/system/eula", status=404)
    else:
        mocked.get(f"{URL}/v1/system/eula", json={"accepted": accepted, "disclaimer": DISCLAIMER})


def test_bootstrapped_instance_plans_nothing(mocked: responses.RequestsMock) -> None:
    ctx, client = ctx_with("{initial_password: first-pass, accept_eula: true}")
    login(mocked, {"admin-password"})
    eula(mocked, True)
    assert bootstrap.prepare(client, ctx) == []
    assert not [c for c in mocked.calls if c.request.method != "GET"]


def test_fresh_instance_plans_password_then_eula(
    mocked: responses.RequestsMock, tmp_path: Path
) -> None:
    password_file = tmp_path / "admin.password"
    password_file.write_text("uuid-initial-password\n")
    ctx, client = ctx_with(f"{{initial_password_file: {password_file}, accept_eula: true}}")
    login(mocked, {"uuid-initial-password"})
    eula(mocked, False)
    changes = bootstrap.prepare(client, ctx)
    assert [(c.address, c.action) for c in changes] == [
        ("nexus.hq.bootstrap.admin-password", Action.UPDATE),
        ("nexus.hq.bootstrap.eula", Action.UPDATE),
    ]
    password, accept = changes
    assert password.diffs[0].masked and accept.depends_on == (password.address,)
    assert client.auth == ("admin", "uuid-initial-password")  # the rest of the plan reads as this
    assert secrets.redact("x uuid-initial-password") == f"x {secrets.MASK}"
    assert not [c for c in mocked.calls if c.request.method != "GET"]

    mocked.put(f"{URL}/v1/security/users/admin/change-password", status=204)
    mocked.post(f"{URL}/v1/system/eula", status=204)
    backend = NexusBackend()
    backend.apply(client, password)
    assert client.auth == ("admin", "admin-password")
    backend.apply(client, accept)
    put, post = (c for c in mocked.calls if c.request.method != "GET")
    assert put.request.body == b"admin-password"
    # The password change used the initial login; the EULA went out with the new password.
    assert put.request.headers["Authorization"] == basic("admin", "uuid-initial-password")
    assert post.request.headers["Authorization"] == basic("admin", "admin-password")
    assert isinstance(post.request.body, bytes) and DISCLAIMER.encode() in post.request.body


def test_eula_not_needed_on_old_versions(mocked: responses.RequestsMock) -> None:
    ctx, client = ctx_with("{initial_password: first-pass, accept_eula: true}")
    login(mocked, {"admin-password"})
    eula(mocked, None)
    assert bootstrap.prepare(client, ctx) == []


def test_eula_without_consent_is_a_warning(mocked: responses.RequestsMock) -> None:
    ctx, client = ctx_with("{initial_password: first-pass}")
    login(mocked, {"admin-password"})
    eula(mocked, False)
    assert bootstrap.prepare(client, ctx) == []
    assert any("accept_eula" in n.message for n in ctx.notes)


@pytest.mark.parametrize(
    ("boot", "accepted", "message"),
    [
        ("{initial_password: first-pass}", set(), "neither the password nor the initial password"),
        ("{initial_password_file: /nonexistent/admin.password}", set(), "does not exist"),
        ("{accept_eula: true}", set(), "no initial_password or initial_password_file"),
    ],
)
def test_no_working_login_is_one_clear_error(
    mocked: responses.RequestsMock, boot: str, accepted: set[str], message: str
) -> None:
    ctx, client = ctx_with(boot)
    login(mocked, accepted)
    with pytest.raises(PlanError, match=message):
        bootstrap.prepare(client, ctx)


def test_no_bootstrap_block_sends_nothing(mocked: responses.RequestsMock) -> None:
    ctx = make_ctx()
    client: NexusClient = NexusBackend().connect(ctx)
    assert bootstrap.prepare(client, ctx) == []
    assert len(mocked.calls) == 0

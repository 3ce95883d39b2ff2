"""Credential check and fresh-instance bootstrap against `responses` (no sleeping)."""

from __future__ import annotations

import base64
import json

import pytest
import responses

from provisioner.backends.base import TargetContext
from provisioner.backends.harbor import bootstrap
from provisioner.backends.harbor.client import HarborClient
from provisioner.errors import PlanError, Unauthorized
from provisioner.plan import Action, Plan
from provisioner.profile.load import parse_profile
from provisioner.render.plan_text import render_plan
from provisioner.selection import listed_order
from tests.unit.test_harbor_planner import PROFILE

API = "https://harbor.test/api/v2.0"
ADMIN = {"user_id": 1, "username": "admin", "sysadmin_flag": True}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "LOGIN_LOCK", 0)
    monkeypatch.setattr(bootstrap, "POLL", 0.01)


def make(with_bootstrap: bool = True, wait: str = "5s") -> tuple[HarborClient, TargetContext]:
    text = PROFILE + (f"    bootstrap: {{initial_password: Harbor12345, wait: {wait}}}\n"
                      if with_bootstrap else "")
    profile = parse_profile(text)
    spec = profile.targets["hq"]
    ctx = TargetContext("hq", "harbor", spec, profile, listed_order(profile))
    return HarborClient(spec.url, "admin", "Adm1nPassw0rd", timeout=2), ctx


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def users_current(request):  # type: ignore[no-untyped-def]
    if request.headers.get("Authorization") == basic("admin", "Harbor12345"):
        return 200, {}, json.dumps(ADMIN)
    return 401, {}, json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "UnAuthorized"}]})


def ready() -> None:
    responses.add(responses.GET, f"{API}/ping", body="Pong")
    responses.add(responses.GET, f"{API}/health", json={"status": "healthy", "components": []})
    responses.add(responses.GET, f"{API}/systeminfo", json={"harbor_version": "v2.15.2-abc"})


@responses.activate
def test_fresh_instance_plans_a_masked_rotation_and_reads_with_the_initial_password() -> None:
    ready()
    responses.add_callback(responses.GET, f"{API}/users/current", callback=users_current)
    client, ctx = make()
    changes = bootstrap.prepare(client, ctx)
    assert [c.action for c in changes] == [Action.UPDATE]
    assert client.auth == ("admin", "Harbor12345")
    assert client.version == (2, 15, 2)
    text = render_plan(Plan(tuple(changes)))
    assert "harbor.hq.user.admin" in text and "password: (sensitive)" in text
    assert "Adm1nPassw0rd" not in text and "Harbor12345" not in text

    responses.add(responses.PUT, f"{API}/users/1/password")
    bootstrap.rotate(client, changes[0].payload)
    put = responses.calls[-1].request
    assert json.loads(put.body) == {"old_password": "Harbor12345", "new_password": "Adm1nPassw0rd"}
    assert put.headers["Authorization"] == basic("admin", "Harbor12345")
    assert client.auth == ("admin", "Adm1nPassw0rd")


@responses.activate
def test_rotated_instance_needs_nothing() -> None:
    ready()
    responses.add(responses.GET, f"{API}/users/current", json=ADMIN)
    client, ctx = make()
    assert bootstrap.prepare(client, ctx) == []
    assert client.auth == ("admin", "Adm1nPassw0rd")


@responses.activate
def test_wrong_credentials_without_bootstrap_is_one_clear_error() -> None:
    responses.add(responses.GET, f"{API}/users/current", status=401)
    client, ctx = make(with_bootstrap=False)
    with pytest.raises(Unauthorized) as caught:
        bootstrap.prepare(client, ctx)
    text = str(caught.value)
    assert "\n" not in text
    assert "does not accept the password of user 'admin'" in text
    assert "anonymous" in text and "Adm1nPassw0rd" not in text


@responses.activate
def test_neither_password_works() -> None:
    ready()
    responses.add(responses.GET, f"{API}/users/current", status=401)
    client, ctx = make()
    with pytest.raises(Unauthorized, match="nor bootstrap.initial_password"):
        bootstrap.prepare(client, ctx)


@responses.activate
def test_non_admin_user_is_refused() -> None:
    responses.add(responses.GET, f"{API}/users/current", json={**ADMIN, "sysadmin_flag": False})
    client, ctx = make(with_bootstrap=False)
    with pytest.raises(PlanError, match="not a Harbor system admin"):
        bootstrap.prepare(client, ctx)


@responses.activate
def test_wait_ready_polls_until_healthy() -> None:
    responses.add(responses.GET, f"{API}/ping", status=502)
    responses.add(responses.GET, f"{API}/ping", body="Pong")
    responses.add(responses.GET, f"{API}/health", json={
        "status": "unhealthy", "components": [{"name": "database", "status": "unhealthy"}]})
    responses.add(responses.GET, f"{API}/health", json={"status": "healthy"})
    client, _ = make()
    bootstrap.wait_ready(client, "hq", 5)
    assert len(responses.calls) >= 4


@responses.activate
def test_wait_ready_gives_up_naming_the_unhealthy_components() -> None:
    responses.add(responses.GET, f"{API}/ping", body="Pong")
    responses.add(responses.GET, f"{API}/health", json={
        "status": "unhealthy", "components": [{"name": "redis", "status": "unhealthy"}]})
    client, _ = make()
    with pytest.raises(PlanError, match="unhealthy components: redis"):
        bootstrap.wait_ready(client, "hq", 0.05)

"""The Harbor target end to end: the CLI as a subprocess against the fake Harbor, or against a
real Harbor when HARBOR_URL, HARBOR_USERNAME and HARBOR_PASSWORD are set.

Against a real Harbor every test uses its own target and cache names and deletes what it made
(``apply --prune`` with no caches); tests that need a fresh instance, fault injection or
planted state run against the fake only and say so when skipped. The real Harbor must reach
the upstreams in HARBOR_TEST_UPSTREAMS (comma-separated registry URLs; default Docker Hub and
ghcr.io); ``http://127.0.0.1:1`` serves as a dead upstream on both.
"""

from __future__ import annotations

import os
import secrets as random
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import cli_command, subprocess_env
from tests.fakes.harbor import FakeHarbor

REAL_URL = os.environ.get("HARBOR_URL")
DEAD = "http://127.0.0.1:1"
PASSWORD = "Adm1nPassw0rd"
fake_only = pytest.mark.skipif(bool(REAL_URL), reason="needs the fake Harbor (fresh state, "
                               "fault injection or planted objects); HARBOR_URL is set")


@dataclass
class Harbor:
    """The Harbor under test and what a test needs to look at it."""

    url: str
    username: str
    password: str
    fake: FakeHarbor | None
    upstreams: list[str]
    tmp: Path
    suffix: str = field(default_factory=lambda: random.token_hex(3))

    @property
    def target(self) -> str:
        return f"it{self.suffix}"

    def cache(self, name: str) -> str:
        return name if self.fake else f"{name}-{self.suffix}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An admin request with no cookie jar (Harbor's sid cookie would trigger CSRF)."""
        response = requests.request(method, f"{self.url}/api/v2.0{path}",
                                    auth=(self.username, self.password), timeout=30, **kwargs)
        return response

    def project(self, name: str) -> dict[str, Any] | None:
        response = self.api("GET", f"/projects/{name}", headers={"X-Is-Resource-Name": "true"})
        return response.json() if response.status_code == 200 else None

    def registry(self, name: str) -> dict[str, Any] | None:
        found = self.api("GET", "/registries", params={"q": f"name={name}"}).json()
        return next((r for r in found if r["name"] == name), None)

    def writes(self) -> list[str]:
        """Requests that change state (``POST /registries/ping`` only reads)."""
        assert self.fake is not None
        return [f"{r.method} {r.path}" for r in self.fake.writes()
                if r.path != "/api/v2.0/registries/ping"]

    def profile(self, caches: dict[str, list[str]], *, bootstrap: bool = False,
                password: str = "${HARBOR_PASSWORD}", extra: str = "") -> Path:
        """Write a profile: upstreams u0, u1, ... (plus `dead`), the caches, one Harbor target."""
        lines = ["version: 1", "probe: {enabled: false}", "upstreams:"]
        for i, url in enumerate(self.upstreams):
            creds = f", username: puller{i}, password: Pull{i}Secret" if self.fake else ""
            lines.append(f"  u{i}: {{kind: registry, url: {url}{creds}}}")
        lines.append(f"  dead: {{kind: registry, url: '{DEAD}'}}")
        lines.append("caches:" if caches else "caches: {}")
        for name, ups in caches.items():
            lines.append(f"  {self.cache(name)}: {{upstreams: [{', '.join(ups)}]}}")
        lines += ["targets:", f"  {self.target}:", "    kind: harbor", f"    url: {self.url}",
                  f"    username: {self.username}", f"    password: '{password}'",
                  "    public: true", "    timeout: 30s"]
        if bootstrap:
            lines.append("    bootstrap: {initial_password: Harbor12345, wait: 20s}")
        path = self.tmp / "profile.yaml"
        path.write_text("\n".join(lines) + "\n" + textwrap.dedent(extra), encoding="utf-8")
        return path

    def run(self, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
        env = subprocess_env(HARBOR_PASSWORD=password or self.password)
        return subprocess.run(cli_command(*args), capture_output=True, text=True, env=env,
                              timeout=180, check=False)


@pytest.fixture
def harbor(tmp_path: Path) -> Iterator[Harbor]:
    if REAL_URL:
        upstreams = os.environ.get("HARBOR_TEST_UPSTREAMS",
                                   "https://registry-1.docker.io,https://ghcr.io").split(",")
        h = Harbor(REAL_URL.rstrip("/"), os.environ.get("HARBOR_USERNAME", "admin"),
                   os.environ["HARBOR_PASSWORD"], None, upstreams, tmp_path)
        yield h
        h.run("apply", str(h.profile({})), "-y", "--prune")  # delete what this test made
        return
    with FakeHarbor(admin_password=PASSWORD, login_lock_seconds=0.2) as fake:
        fake.mark_down(DEAD)
        yield Harbor(fake.url, "admin", PASSWORD, fake,
                     ["https://a.example.test", "https://b.example.test"], tmp_path)
        assert fake.spec_violations == []
        assert fake.server_errors == []


def test_real_harbor_mode_is_announced() -> None:
    if not REAL_URL:
        pytest.skip("HARBOR_URL, HARBOR_USERNAME, HARBOR_PASSWORD not set: integration tests "
                    "ran against the fake Harbor only")


def test_apply_creates_endpoint_and_bound_project_then_is_a_noop(harbor: Harbor) -> None:
    profile = str(harbor.profile({"dockerhub": ["u0", "u1"]}))
    first = harbor.run("apply", profile, "-y")
    assert first.returncode == 0, first.stderr
    cache = harbor.cache("dockerhub")
    endpoint = harbor.registry(f"provisioner-{cache}")
    assert endpoint is not None and endpoint["type"] == "docker-registry"
    assert endpoint["url"] == harbor.upstreams[0]
    project = harbor.project(cache)
    assert project is not None and project["registry_id"] == endpoint["id"]
    assert project["metadata"]["public"] == "true"
    if harbor.fake:
        harbor.fake.reset_log()
    second = harbor.run("apply", profile, "-y")
    assert second.returncode == 0, second.stderr
    assert "No changes" in second.stdout
    if harbor.fake:
        assert harbor.writes() == []
    assert harbor.run("diff", profile, "--detailed-exitcode").returncode == 0


@fake_only
def test_fresh_instance_bootstrap(tmp_path: Path) -> None:
    with FakeHarbor(login_lock_seconds=0.5) as fake:  # admin still has Harbor12345
        h = Harbor(fake.url, "admin", PASSWORD, fake, ["https://a.example.test"], tmp_path)
        profile = str(h.profile({"dockerhub": ["u0"]}, bootstrap=True))
        diff = h.run("diff", profile, "--detailed-exitcode")
        assert diff.returncode == 2, diff.stderr
        assert f"~ harbor.{h.target}.user.admin will be updated in place" in diff.stdout
        assert "password: (sensitive)" in diff.stdout
        assert f"+ harbor.{h.target}.endpoint.dockerhub" in diff.stdout
        assert f"+ harbor.{h.target}.project.dockerhub" in diff.stdout
        assert PASSWORD not in diff.stdout + diff.stderr and "Harbor12345" not in diff.stdout
        assert h.writes() == [] and fake.is_fresh

        applied = h.run("apply", profile, "-y")
        assert applied.returncode == 0, applied.stderr
        assert fake.admin_password == PASSWORD
        assert fake.projects["dockerhub"]["registry_id"] is not None
        order = h.writes()
        assert order[0] == "PUT /api/v2.0/users/1/password"

        fake.reset_log()
        again = h.run("apply", profile, "-y")
        assert again.returncode == 0 and "No changes" in again.stdout
        assert h.writes() == []
        assert h.run("diff", profile, "--detailed-exitcode").returncode == 0
        assert fake.spec_violations == []


@fake_only
def test_weak_password_with_bootstrap_fails_before_any_request(harbor: Harbor) -> None:
    assert harbor.fake is not None
    harbor.fake.reset_log()
    result = harbor.run("apply", str(harbor.profile({"c": ["u0"]}, bootstrap=True)), "-y",
                        password="weakpass")
    assert result.returncode == 1
    assert "password" in result.stderr and "upper-case" in result.stderr
    assert harbor.fake.requests == []


def test_upstream_change_swaps_the_endpoint_url_in_place(harbor: Harbor) -> None:
    cache = harbor.cache("dockerhub")
    first = harbor.run("apply", str(harbor.profile({"dockerhub": ["u0", "u1"]})), "-y")
    assert first.returncode == 0, first.stderr
    before_endpoint = harbor.registry(f"provisioner-{cache}")
    before_project = harbor.project(cache)
    assert before_endpoint and before_project
    if harbor.fake:
        harbor.fake.reset_log()
    swapped = harbor.run("apply", str(harbor.profile({"dockerhub": ["u1", "u0"]})), "-y")
    assert swapped.returncode == 0, swapped.stderr
    after_endpoint = harbor.registry(f"provisioner-{cache}")
    after_project = harbor.project(cache)
    assert after_endpoint and after_project
    assert after_endpoint["id"] == before_endpoint["id"]
    assert after_endpoint["url"] == harbor.upstreams[1]
    assert after_project["project_id"] == before_project["project_id"]
    assert after_project["registry_id"] == before_endpoint["id"]
    if harbor.fake:
        assert harbor.writes() == [f"PUT /api/v2.0/registries/{before_endpoint['id']}"]
        stored = harbor.fake.registries[before_endpoint["id"]]["credential"]
        assert stored == {"type": "basic", "access_key": "puller1", "access_secret": "Pull1Secret"}


def test_dead_new_upstream_is_reported_and_nothing_is_written(harbor: Harbor) -> None:
    assert harbor.run("apply", str(harbor.profile({"dockerhub": ["u0"]})), "-y").returncode == 0
    if harbor.fake:
        harbor.fake.reset_log()
    profile = str(harbor.profile({"dockerhub": ["dead", "u0"]}))
    for args in (("diff", profile), ("apply", profile, "-y")):
        result = harbor.run(*args)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"upstream dead ({DEAD})" in lines[0] and "nothing was changed" in lines[0]
    endpoint = harbor.registry(f"provisioner-{harbor.cache('dockerhub')}")
    assert endpoint is not None and endpoint["url"] == harbor.upstreams[0]
    if harbor.fake:
        assert harbor.writes() == []


@fake_only
def test_more_than_a_hundred_projects_and_endpoints_are_paged(harbor: Harbor) -> None:
    fake = harbor.fake
    assert fake is not None
    for i in range(120):
        rid = fake.add_registry(f"other-{i:03d}", f"https://r{i}.example.test")
        fake.add_project(f"other-{i:03d}", registry_id=rid)
    profile = str(harbor.profile({"dockerhub": ["u0"], "ghcr": ["u1"]}))
    assert harbor.run("apply", profile, "-y").returncode == 0  # ours land on page 2
    fake.reset_log()
    diff = harbor.run("diff", profile, "--detailed-exitcode")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    reads = [r.path for r in fake.requests]
    assert reads.count("/api/v2.0/registries") == 2 and reads.count("/api/v2.0/projects") == 2


def test_wrong_credentials_are_one_clear_error(harbor: Harbor) -> None:
    if harbor.fake:
        harbor.fake.reset_log()
    result = harbor.run("diff", str(harbor.profile({"c": ["u0"]})), password="Wr0ngPassword")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "does not accept the password of user" in lines[0]
    assert "Wr0ngPassword" not in result.stderr and "Traceback" not in result.stderr
    if harbor.fake:
        assert harbor.writes() == []


def test_project_name_taken_by_a_plain_project(harbor: Harbor) -> None:
    cache = harbor.cache("dockerhub")
    made = harbor.api("POST", "/projects",
                      json={"project_name": cache, "metadata": {"public": "false"}})
    assert made.status_code == 201
    try:
        if harbor.fake:
            harbor.fake.reset_log()
        result = harbor.run("apply", str(harbor.profile({"dockerhub": ["u0"]})), "-y")
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a proxy-cache project" in lines[0]
        assert harbor.registry(f"provisioner-{cache}") is None
        if harbor.fake:
            assert harbor.writes() == []
    finally:
        harbor.api("DELETE", f"/projects/{cache}", headers={"X-Is-Resource-Name": "true"})


@fake_only
def test_project_bound_elsewhere_is_replaced_only_with_the_flag(harbor: Harbor) -> None:
    fake = harbor.fake
    assert fake is not None
    by_hand = fake.add_registry("hub-by-hand", "https://hub.docker.com", type="docker-hub")
    old = fake.add_project("dockerhub", registry_id=by_hand, public=True)
    profile = str(harbor.profile({"dockerhub": ["u0"]}))
    diff = harbor.run("diff", profile, "--detailed-exitcode")
    assert diff.returncode == 2
    assert f"-/+ harbor.{harbor.target}.project.dockerhub must be replaced" in diff.stdout
    assert "hub-by-hand" in diff.stdout and "needs --replace" in diff.stdout
    fake.reset_log()
    refused = harbor.run("apply", profile, "-y")
    assert refused.returncode == 1 and "--replace" in refused.stderr
    assert harbor.writes() == []
    replaced = harbor.run("apply", profile, "-y", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    new = fake.projects["dockerhub"]
    ours = harbor.registry("provisioner-dockerhub")
    assert ours is not None and new["registry_id"] == ours["id"]
    assert new["project_id"] != old["project_id"]
    assert by_hand in fake.registries  # not ours: never deleted


def test_prune_deletes_only_what_this_tool_made(harbor: Harbor) -> None:
    two = harbor.profile({"dockerhub": ["u0"], "ghcr": ["u1"]})
    assert harbor.run("apply", str(two), "-y").returncode == 0
    one = str(harbor.profile({"dockerhub": ["u0"]}))
    kept = harbor.run("apply", one, "-y")
    assert kept.returncode == 0 and "--prune" in kept.stdout
    ghcr = harbor.cache("ghcr")
    assert harbor.project(ghcr) is not None
    pruned = harbor.run("apply", one, "-y", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert harbor.project(ghcr) is None and harbor.registry(f"provisioner-{ghcr}") is None
    assert harbor.project(harbor.cache("dockerhub")) is not None


def test_json_diff_masks_secrets(harbor: Harbor) -> None:
    result = harbor.run("diff", str(harbor.profile({"dockerhub": ["u0"]})), "--json")
    assert result.returncode == 0, result.stderr
    assert harbor.password not in result.stdout and "Pull0Secret" not in result.stdout
    assert '"(sensitive)"' in result.stdout

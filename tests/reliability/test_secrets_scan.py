"""Secrets (issue 7.3): no credential in any output, file or server field it does not belong to.

One world (fresh fake Nexus and Harbor with bootstrap, five fake upstreams, two of them with
credentials, every target kind and generated file) runs every command with ``--debug``:
validate, schema, diff, diff --json, probe, probe --json, apply, watch (three rounds, one
upstream dying so the Harbor endpoint and the Registry config switch to an upstream with a
password) and failing runs (wrong password, a server error, a server that echoes the request
body back in its error). Then everything is scanned for every secret, raw and as it would
appear in an ``Authorization`` header:

- stdout and stderr of every run (the log is stderr);
- every file under the output directory: a file holding a secret must be mode 0600, and no
  file may be left half-written;
- the servers' stored objects: a secret may only sit in its own credential field.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from provisioner import secrets
from provisioner.errors import ApiError
from provisioner.http import HttpClient
from tests.conftest import cli_command
from tests.fakes.base import Fault, Request, Response
from tests.fakes.probe_upstream import FakeUpstream
from tests.reliability.lab import HARBOR_INITIAL, SECRETS, Lab, Run, lab, nexus_state

USERS = {"NEXUS_PASSWORD": "admin", "HARBOR_PASSWORD": "admin", "HK_PROXY_PASSWORD": "puller",
         "GHCR_TOKEN": "ghcr-bot"}
WRONG = {"NEXUS_PASSWORD": "Wrong-Nexus-Pass-1", "HARBOR_PASSWORD": "Wrong-Harbor-Pass-2"}
# Where a secret may legitimately be stored on a server (the fakes keep what they were sent).
SERVER_FIELDS = re.compile(r"(credential\.access_secret|authentication\.password|"
                           r"admin_password)$")


@dataclass
class World:
    lab: Lab
    upstreams: dict[str, FakeUpstream]
    runs: list[Run] = field(default_factory=list)
    watch_output: str = ""
    nexus_initial: str = ""

    def secrets(self) -> dict[str, str]:
        """Every secret value, and each in the forms it takes on the wire."""
        found = {name: value for name, value in SECRETS.items()}
        found["HARBOR_INITIAL"] = HARBOR_INITIAL
        found.update({f"wrong {name}": value for name, value in WRONG.items()})
        found["NEXUS_INITIAL"] = self.nexus_initial
        for name, user in USERS.items():
            basic = base64.b64encode(f"{user}:{SECRETS[name]}".encode()).decode()
            found[f"{name} (Basic header)"] = basic
        basic = base64.b64encode(f"admin:{HARBOR_INITIAL}".encode()).decode()
        found["HARBOR_INITIAL (Basic header)"] = basic
        for public, up in self.upstreams.items():
            for i, token in enumerate(up.tokens):
                found[f"bearer token {i} of {public}"] = token
        return {k: v for k, v in found.items() if v}


def _upstreams() -> dict[str, FakeUpstream]:
    return {
        "https://hub.example.xyz": FakeUpstream(),
        "https://mirror.example.com": FakeUpstream(username="puller",
                                                   password=SECRETS["HK_PROXY_PASSWORD"]),
        "https://docker.m.daocloud.io": FakeUpstream(auth="none"),
        "https://ghcr.io": FakeUpstream(auth="basic", username="ghcr-bot",
                                        password=SECRETS["GHCR_TOKEN"]),
    }


def _point_at_fakes(world: Lab, fakes: dict[str, FakeUpstream]) -> None:
    text = world.profile.read_text()
    for public, fake in fakes.items():
        text = text.replace(public, fake.url)
    text = text.replace("  dockerhub: {kind: docker-hub}\n",
                        f"  dockerhub: {{kind: registry, url: '{fake_hub_url(fakes)}'}}\n")
    text = text.replace("probe: {enabled: false}", "probe: {enabled: true, timeout: 2s}")
    world.profile.write_text(text)


def fake_hub_url(fakes: dict[str, FakeUpstream]) -> str:
    return fakes["https://docker.m.daocloud.io"].url  # a second name for an open upstream


def _echo_body(request: Request, response: Response) -> Response:
    """A server whose 400 echoes the request body (some proxies and old APIs do)."""
    if request.method == "POST" and request.path.endswith("/registries") \
            and b"ghcr-bot" in request.body:  # the endpoint with a credential
        return Response.json({"errors": [{"code": "BAD_REQUEST",
                                          "message": f"bad body: {request.body.decode()}"}]}, 400)
    return response


def _watch(world: World, rounds_before: float, rounds_after: float) -> str:
    """Run ``watch`` at a 1 s interval; kill the active upstream of ``dockerhub`` mid-way."""
    proc = subprocess.Popen(cli_command("--debug", "watch", str(world.lab.profile),
                                        "--interval", "1s"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=world.lab.env, cwd=world.lab.root)
    try:
        time.sleep(rounds_before)
        world.upstreams["https://hub.example.xyz"].stop()  # cf-worker dies: hk-nginx takes over
        time.sleep(rounds_after)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    world.runs.append(Run(("watch",), proc.returncode, out, err, 0.0))
    return out + err


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("secrets")
    fakes = _upstreams()
    for fake in fakes.values():
        fake.start()
    try:
        with lab(root) as the_lab:
            _point_at_fakes(the_lab, fakes)
            w = World(the_lab, fakes, nexus_initial=the_lab.nexus.initial_password or "")
            profile = str(the_lab.profile)
            debug = ("--debug",)
            for args in (("validate", profile), ("schema",), ("diff", profile),
                         ("diff", profile, "--json"), ("probe", profile),
                         ("probe", profile, "--json")):
                w.runs.append(the_lab.cli(*debug, *args))
            # Failing runs while bootstrap is pending (their errors quote requests) ...
            the_lab.harbor.rewrite = _echo_body
            w.runs.append(the_lab.cli(*debug, "apply", profile, "-y"))
            the_lab.harbor.rewrite = None
            the_lab.nexus.inject(Fault("500", method="PUT"))
            w.runs.append(the_lab.cli(*debug, "apply", profile, "-y"))
            w.runs.append(the_lab.cli(*debug, "apply", profile, "-y"))
            # ... and once set up, a wrong password (on a fresh one it would be set, not refused).
            w.runs.append(the_lab.cli(*debug, "apply", profile, "-y", env=WRONG))
            w.runs.append(the_lab.cli(*debug, "diff", profile, "--json"))
            w.watch_output = _watch(w, 2.5, 3.5)
            w.runs.append(the_lab.cli(*debug, "diff", profile, "--detailed-exitcode"))
            yield w
    finally:
        for fake in fakes.values():
            fake.stop()


def test_the_world_did_what_the_scan_relies_on(world: World) -> None:
    by_args = {" ".join(r.args[1:3]): r for r in world.runs}
    assert by_args[f"validate {world.lab.profile}"].returncode == 0
    assert by_args[f"probe {world.lab.profile}"].returncode == 0
    applies = [r for r in world.runs if r.args[1:2] == ("apply",)]
    assert [r.returncode for r in applies] == [1, 1, 0, 1]  # echo, 500, good, wrong password
    echoed = applies[0].error_lines
    assert "bad body: " in echoed[0] and '"access_secret": "(sensitive)"' in echoed[0], echoed
    assert "-> 500" in applies[1].stderr
    assert "-> 401" in applies[3].stderr
    assert "switching to hk-nginx" in world.watch_output or "hk-nginx" in world.watch_output
    assert world.runs[-1].returncode == 0, world.runs[-1].stdout  # converged after watch
    assert any(up.tokens for up in world.upstreams.values())  # bearer tokens were issued
    assert "DEBUG" in world.runs[2].stderr  # --debug really logged


def test_no_secret_in_any_output(world: World) -> None:
    hits = [f"{name} in {' '.join(run.args[:2])} {stream}"
            for run in world.runs for stream, text in (("stdout", run.stdout),
                                                       ("stderr", run.stderr))
            for name, value in world.secrets().items() if value in text]
    assert hits == []


def test_files_with_a_secret_are_0600_and_no_other_file_has_one(world: World) -> None:
    out = world.lab.out
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 12
    hits, loose = [], []
    for path in files:
        text = path.read_text(errors="replace")
        mode = stat.S_IMODE(path.stat().st_mode)
        held = [name for name, value in world.secrets().items() if value in text]
        if held and mode != 0o600:
            hits.append(f"{path.relative_to(out)} ({oct(mode)}) holds {held}")
        if path.name.endswith(".tmp"):
            loose.append(str(path))
    assert hits == []
    assert loose == []
    # The secrets that must be written somewhere are, and only in 0600 files.
    env_files = [p for p in files if p.name == "registry.env"]
    assert any(SECRETS["HK_PROXY_PASSWORD"] in p.read_text() for p in env_files)


def test_secrets_sit_only_in_their_own_server_fields(world: World) -> None:
    from tests.reliability.lab import harbor_state

    misplaced: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")
        elif isinstance(value, str):
            for name, secret in world.secrets().items():
                if secret in value and not SERVER_FIELDS.search(path):
                    misplaced.append(f"{name} at {path}")

    walk({"nexus": nexus_state(world.lab.nexus), "harbor": harbor_state(world.lab.harbor)}, "")
    assert misplaced == []


# -- errors never carry request bodies or Authorization headers ------------------------------------
def test_api_errors_carry_no_body_and_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.reliability.rawserver import raw_server

    secrets.clear()  # nothing registered: the error must not contain them, masked or not
    body_secret, auth_secret = "Body-Secret-0001", "Auth-Secret-0002"
    basic = base64.b64encode(f"admin:{auth_secret}".encode()).decode()
    for kind in ("cut-off", "not-http", "silent"):
        with raw_server(kind) as url:
            client = HttpClient(url, auth=("admin", auth_secret), timeout=1)
            with pytest.raises(ApiError) as info:
                client.request("POST", "/x", json={"password": body_secret})
        for text in (str(info.value), repr(info.value), json.dumps(vars(info.value), default=str)):
            assert body_secret not in text and auth_secret not in text and basic not in text
        assert info.value.__cause__ is None and info.value.__suppress_context__


def test_status_errors_carry_no_request_body(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes.base import FakeServer

    class Refuses(FakeServer):
        def handle(self, request: Request) -> Response:
            return Response.json({"errors": [{"message": "no"}]}, 422)

    secrets.clear()
    with Refuses() as server:
        client = HttpClient(server.url, auth=("admin", "Auth-Secret-0003"))
        with pytest.raises(ApiError) as info:
            client.request("PUT", "/x", json={"password": "Body-Secret-0004"})
    text = f"{info.value} {info.value!r} {vars(info.value)}"
    assert "Body-Secret-0004" not in text and "Auth-Secret-0003" not in text
    assert "PUT " in str(info.value) and "-> 422" in str(info.value)


def test_debug_traceback_is_redacted(tmp_path: Path) -> None:
    """An unexpected exception quoting a secret: --debug prints the traceback, masked."""
    script = (
        "import sys\n"
        "from provisioner import cli, secrets\n"
        "secrets.register('Trace-Secret-0005')\n"
        "@cli.cli.command()\n"
        "def boom():\n"
        "    raise RuntimeError('the value was Trace-Secret-0005')\n"
        "cli.main(['--debug', 'boom'])\n"
    )
    done = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError" in done.stderr
    assert "Trace-Secret-0005" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("Error: internal error: RuntimeError")


def test_requests_does_not_log_headers_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    """urllib3's DEBUG log (shown by --debug) names the request line only, never headers."""
    import logging

    from tests.fakes.base import FakeServer

    class Ok(FakeServer):
        def handle(self, request: Request) -> Response:
            return Response.json({})

    with Ok() as server, caplog.at_level(logging.DEBUG):
        HttpClient(server.url, auth=("admin", "Auth-Secret-0006")).request(
            "POST", "/x", json={"password": "Body-Secret-0007"})
        requests.get(server.url, timeout=5)  # noqa: S113 - the control: logging is on
    assert "POST /x" in caplog.text
    assert "Auth-Secret-0006" not in caplog.text and "Body-Secret-0007" not in caplog.text
    assert base64.b64encode(b"admin:Auth-Secret-0006").decode() not in caplog.text

"""Secrets (issue 7.3): no credential in any output, file or server field it does not belong to.

The world and the scans are in :mod:`tests.reliability.secretscan`; below them, unit checks that
errors never carry request bodies or ``Authorization`` headers and that ``--debug`` tracebacks
are masked.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from provisioner import secrets
from provisioner.errors import ApiError
from provisioner.http import HttpClient
from tests.fakes.base import Request, Response
from tests.reliability.lab import SECRETS
from tests.reliability.secretscan import (
    World,
    build,
    file_hits,
    generated_files,
    output_hits,
    server_hits,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with build(tmp_path_factory.mktemp("secrets")) as built:
        yield built


def test_the_world_did_what_the_scan_relies_on(world: World) -> None:
    by_args = {" ".join(r.args[1:3]): r for r in world.runs}
    assert by_args[f"validate {world.lab.profile}"].returncode == 0
    assert by_args[f"probe {world.lab.profile}"].returncode == 0
    applies = [r for r in world.runs if r.args[1:2] == ("apply",)]
    assert [r.returncode for r in applies] == [1, 1, 0, 1]  # echo, 500, good, wrong password
    echoed = applies[0].error_lines
    assert "bad body: " in echoed[0] and '"access_secret": "(sensitive)"' in echoed[0], echoed
    assert "-> 500" in applies[1].stderr
    assert "-> 401" in applies[3].stderr or "not accepted" in applies[3].stderr
    assert "hk-nginx" in world.watch_output
    assert world.runs[-1].returncode == 0, world.runs[-1].stdout  # converged after watch
    assert any(up.tokens for up in world.upstreams.values())  # bearer tokens were issued
    assert "DEBUG" in world.runs[2].stderr  # --debug really logged
    assert len(world.secrets()) >= 12


def test_no_secret_in_any_output(world: World) -> None:
    assert output_hits(world) == []


def test_files_with_a_secret_are_0600_and_no_other_file_has_one(world: World) -> None:
    assert len(generated_files(world)) >= 12
    assert file_hits(world) == []
    # The secrets that must be written somewhere are, and only in 0600 files.
    env_files = [p for p in generated_files(world) if p.name == "registry.env"]
    assert any(SECRETS["HK_PROXY_PASSWORD"] in p.read_text() for p in env_files)


def test_secrets_sit_only_in_their_own_server_fields(world: World) -> None:
    assert server_hits(world) == []


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
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
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

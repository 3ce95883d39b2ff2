"""Malformed server answers (issue 7.2): one clear error line, exit 1, no traceback, no hang.

Two layers:

- every distinct request of a full apply (fresh servers) and of a diff (converged servers),
  answered with HTML, truncated JSON, an empty 200, ``null``, wrong types, another shape or a
  redirect loop (:mod:`tests.reliability.malformed`); a clean apply afterwards converges;
- answers broken below HTTP (:mod:`tests.reliability.rawserver`): not HTTP at all, cut off,
  trickled, endless, silent; through :class:`provisioner.http.HttpClient` and the CLI.
"""

from __future__ import annotations

import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

from provisioner.errors import BadResponse, Unreachable
from provisioner.http import HttpClient
from tests.conftest import cli_command, subprocess_env
from tests.reliability import malformed
from tests.reliability.faultmatrix import baseline
from tests.reliability.rawserver import raw_server

REQUESTS: dict[str, dict[str, list[str]]] = {}
APPLY_KINDS = ("html", "truncated", "shape", "redirect-loop")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The converged state of a clean apply, and the requests each command makes."""
    REQUESTS.update(malformed.requests_of(tmp_path_factory.mktemp("requests")))
    return baseline(tmp_path_factory.mktemp("reference")).snapshot


@pytest.mark.slow
@pytest.mark.parametrize("command", ["diff", "apply"])
@pytest.mark.parametrize("server", ["nexus", "harbor"])
def test_every_request_answered_wrongly(reference: dict[str, object], command: str,
                                        server: str) -> None:
    # Every kind on every read; on a fresh apply (writes included) the kinds that differ for a
    # write's answer. The figures script runs every kind on every request.
    kinds = malformed.KINDS if command == "diff" else APPLY_KINDS
    selected = [c for c in malformed.cases(REQUESTS, kinds)
                if c.command == command and c.server == server]
    assert len(selected) >= 5 * len(kinds)
    results = malformed.run_cases(selected, reference, workers=3)  # type: ignore[arg-type]
    bad = [f"{r.case}: {'; '.join(r.problems)}" for r in results if not r.ok]
    assert bad == []
    # Everything the clients parse must fail loudly: only status-only polls and write answers
    # whose body is never read may pass (the Nexus credential check reads the status only).
    tolerated = {r.case.request for r in results if r.accepted and r.case.kind in
                 ("html", "truncated", "empty", "redirect-loop")
                 and r.case.request.startswith("GET ")}
    assert tolerated <= {"GET /service/rest/v1/status/writable", "GET /api/v2.0/ping",
                         "GET /api/v2.0/health", "GET /service/rest/v1/security/realms/active"}


@pytest.mark.parametrize("kind", ["html", "truncated", "empty", "null", "shape", "redirect-loop"])
def test_repository_list_answered_wrongly_is_one_line(kind: str) -> None:
    """The quick version of the matrix above: the one read every Nexus plan depends on."""
    case = malformed.Case("nexus", "GET /service/rest/v1/repositorySettings", kind, "diff")
    with tempfile.TemporaryDirectory() as tmp:
        result = malformed.run_case(Path(tmp), case)
    assert result.ok, result.problems
    assert not result.accepted
    assert "/service/rest/v1/repositorySettings" in result.error_line


def test_garbling_is_what_it_says() -> None:
    from tests.fakes.base import Request, Response

    request = Request("GET", "/x", {}, {}, b"")
    real = Response.json([{"name": "hub", "online": True, "size": 3}])
    assert malformed.garble("wrong-types", request, real).body == \
        b'[{"name": 3, "online": "yes", "size": "3"}]'
    assert malformed.garble("shape", request, real).body.startswith(b'{"items": [')
    assert malformed.garble("truncated", request, real).body == real.body[: len(real.body) // 2]
    assert malformed.garble("redirect-loop", request, real).headers == {"Location": "/x"}


# -- below HTTP ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "error", "text"), [
    ("not-http", Unreachable, "the answer is not HTTP"),
    ("cut-off", Unreachable, "the answer was cut off before its end"),
    ("trickle", Unreachable, "the answer did not complete in time"),
    ("endless", BadResponse, "the answer is larger than 64 MB"),
    ("silent", Unreachable, "no answer within 1s"),
])
def test_http_client_bounds_every_broken_answer(kind: str, error: type[Exception],
                                                text: str) -> None:
    with raw_server(kind) as url:
        client = HttpClient(url, timeout=1)
        client.deadline_floor = 2.0  # the default (30 s) is for real, slow links
        with pytest.raises(error) as info:
            client.request("GET", "/v2/")
    assert text in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["not-http", "cut-off", "endless", "silent"])
def test_cli_against_a_broken_server(tmp_path: Path, kind: str) -> None:
    with raw_server(kind) as url:
        profile = tmp_path / "p.yaml"
        profile.write_text(textwrap.dedent(f"""\
            version: 1
            probe: {{enabled: false}}
            upstreams: {{hub: {{kind: docker-hub}}}}
            caches: {{hub: {{upstreams: [hub]}}}}
            targets:
              hq: {{kind: nexus, url: '{url}', username: admin, password: pw-1234, timeout: 1s}}
              hb: {{kind: harbor, url: '{url}', username: admin, password: Pw-12345, timeout: 1s}}
            """), encoding="utf-8")
        done = subprocess.run(cli_command("diff", str(profile)), capture_output=True, text=True,
                              timeout=120, env=subprocess_env(), check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr

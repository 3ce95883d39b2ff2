"""Malformed server answers: every distinct request of a full apply, answered wrongly.

The lab's fakes handle each request for real (so a write is committed) and then, for the one
request under test, the answer is replaced by something a broken proxy, a login portal or a
different API version might send. The CLI must end with one ``Error:`` line and exit 1 (or,
where the answer is one it never reads, succeed); never a traceback, an "internal error" or a
hang; and the next clean apply must converge.

Kinds:

- ``html``: 200 with an HTML login page (an SSO portal in front of the server);
- ``truncated``: the real JSON cut in half;
- ``empty``: 200 with no body;
- ``null``: 200 with the JSON literal ``null``;
- ``wrong-types``: the real JSON with every scalar of another type (strings become numbers...);
- ``shape``: the real JSON wrapped the other way (a list becomes an object and vice versa);
- ``redirect-loop``: 302 to itself, forever.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.base import Request, Response
from tests.reliability.faultmatrix import compare
from tests.reliability.lab import Lab, Run, lab

KINDS = ("html", "truncated", "empty", "null", "wrong-types", "shape", "redirect-loop")
LOGIN_PAGE = ("<!DOCTYPE html><html><head><title>Sign in - Corporate SSO</title></head>"
              "<body><form method=post><input name=user></form></body></html>")


def garble(kind: str, request: Request, response: Response) -> Response:
    if kind == "html":
        return Response.text(LOGIN_PAGE, 200, "text/html; charset=utf-8")
    if kind == "redirect-loop":
        return Response(302, b"", {"Location": request.path})
    if kind == "empty":
        return Response(200, b"", {"Content-Type": "application/json"})
    if kind == "null":
        return Response(200, b"null", {"Content-Type": "application/json"})
    body = response.body or b"{}"
    if kind == "truncated":
        return Response(200, body[: max(1, len(body) // 2)], {"Content-Type": "application/json"})
    try:
        value = json.loads(body)
    except ValueError:
        value = {"text": body.decode(errors="replace")}
    if kind == "wrong-types":
        return Response.json(_retype(value), 200)
    if kind == "shape":
        return Response.json({"items": value} if isinstance(value, list) else [value], 200)
    raise ValueError(kind)


def _retype(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _retype(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_retype(v) for v in value] or [17]
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return len(value)
    return {"unexpected": True}


@dataclass(frozen=True)
class Case:
    server: str
    request: str  # "METHOD /path", garbled the first time it is answered
    kind: str
    command: str  # "diff" (a converged world, reads) or "apply" (a fresh world)

    def __str__(self) -> str:
        return f"{self.command}: {self.server} {self.request} x {self.kind}"


@dataclass
class Result:
    case: Case
    accepted: bool = False  # the run exited 0: the garbled answer was one it does not rely on
    error_line: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _fake(world: Lab, server: str) -> Any:
    return world.nexus if server == "nexus" else world.harbor


def requests_of(root: Path) -> dict[str, dict[str, list[str]]]:
    """Distinct requests per server: of a fresh apply, and of a diff once converged."""
    seen: dict[str, dict[str, list[str]]] = {"apply": {}, "diff": {}}
    with lab(root) as world:
        for command in ("apply", "diff"):
            for server in ("nexus", "harbor"):
                _fake(world, server).reset_log()
            run = world.apply() if command == "apply" else world.cli("diff", str(world.profile))
            assert run.returncode == 0, run.stderr
            for server in ("nexus", "harbor"):
                distinct = dict.fromkeys(f"{r.method} {r.path}"
                                         for r in _fake(world, server).requests)
                seen[command][server] = list(distinct)
    return seen


def cases(requests: dict[str, dict[str, list[str]]], kinds: tuple[str, ...] = KINDS) -> list[Case]:
    return [Case(server, request, kind, command)
            for command, by_server in requests.items()
            for server, listed in by_server.items()
            for request in listed for kind in kinds]


def run_case(root: Path, case: Case, reference: dict[str, Any] | None = None) -> Result:
    result = Result(case)
    with lab(root) as world:
        if case.command == "diff":
            setup = world.apply()
            assert setup.returncode == 0, setup.stderr
        fired: list[bool] = []

        def rewrite(request: Request, response: Response) -> Response:
            if f"{request.method} {request.path}" != case.request:
                return response
            if fired and case.kind != "redirect-loop":  # a loop answers every time
                return response
            fired.append(True)
            return garble(case.kind, request, response)

        fake = _fake(world, case.server)
        fake.rewrite = rewrite
        run = world.apply() if case.command == "apply" else world.cli("diff", str(world.profile))
        fake.rewrite = None
        if not fired:
            result.problems.append("the request was never made")
        _check(run, result)
        again = world.apply()
        if again.returncode != 0:
            result.problems.append(f"the clean apply after it failed: {again.stderr[-300:]}")
        check = world.cli("diff", str(world.profile), "--detailed-exitcode")
        if check.returncode != 0:
            result.problems.append("not converged after the clean apply")
        if reference is not None:
            result.problems += compare(reference, world.snapshot())
        if any("Traceback" in r.stdout + r.stderr for r in world.runs):
            result.problems.append("a traceback")
    return result


def _check(run: Run, result: Result) -> None:
    if run.hung:
        result.problems.append("hung")
        return
    if run.returncode == 0:
        result.accepted = True
        return
    if run.returncode != 1:
        result.problems.append(f"exit {run.returncode}")
    errors = run.error_lines
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    if len(errors) != 1 or lines[-1:] != errors:
        result.problems.append(f"not one final error line: {run.stderr[-400:]!r}")
        return
    result.error_line = errors[0]
    if "internal error" in errors[0]:
        result.problems.append(f"an internal error: {errors[0]}")


def run_cases(selected: list[Case], reference: dict[str, Any] | None = None, workers: int = 3,
              progress: Callable[[Result], None] | None = None) -> list[Result]:
    def one(case: Case) -> Result:
        with tempfile.TemporaryDirectory(prefix="malformed-") as tmp:
            result = run_case(Path(tmp), case, reference)
        if progress is not None:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, selected))

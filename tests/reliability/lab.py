"""A complete, fresh installation on loopback for the reliability tests: fake Nexus and Harbor,
a full profile (every target kind, generated upstream proxies and client configs) with
distinctive secrets, foreign resources planted on both servers, and the CLI as a subprocess.

A :class:`Lab` is one throw-away world. ``snapshot()`` reduces both servers and the output
directory to comparable data, so a test can say "converged to exactly what a clean apply
makes" and "the foreign resources are byte-for-byte untouched".
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REPO, cli_command, subprocess_env
from tests.fakes.base import WRITE_METHODS, Request, Response
from tests.fakes.harbor import FakeHarbor
from tests.fakes.nexus import NexusFake
from tests.fakes.nexus_repos import docker_proxy_body, maven_hosted_body
from tests.reliability import filefault

# Distinctive secrets: any of them appearing in an output is a leak (test_secrets_scan).
SECRETS = {
    "NEXUS_PASSWORD": "Nx-Target-Pass-7431",
    "HARBOR_PASSWORD": "Hb-Target-Pass-8642",
    "HK_PROXY_PASSWORD": "Hk-Upstream-Pass-9753",
    "GHCR_TOKEN": "Gh-Upstream-Token-2468",
    "EDGE_HTTP_SECRET": "Edge-Http-Secret-1122",
}
HARBOR_INITIAL = "Hb-Initial-Pass-1357"  # written in the profile (bootstrap.initial_password)
TIMEOUT = 1.0  # the targets' `timeout:`; a hang must outlast it
CLI_TIMEOUT = 120  # a CLI run taking longer than this is a hang

FOREIGN_NEXUS = ("foreign-docker", "foreign-maven")
FOREIGN_HARBOR_REGISTRY = "foreign-endpoint"
FOREIGN_HARBOR_PROJECT = "foreign-project"

PROFILE = """\
version: 1
probe: {{enabled: false}}
upstreams:
  cf-worker:
    kind: cloudflare-worker
    url: https://hub.example.xyz
    deploy: {{kind: cloudflare-worker, output: {out}/worker}}
  hk-nginx:
    kind: nginx-proxy
    url: https://mirror.example.com
    username: puller
    password: ${{HK_PROXY_PASSWORD}}
    deploy: {{kind: nginx, output: {out}/nginx, server_name: mirror.example.com}}
  daocloud: {{kind: mirror, url: https://docker.m.daocloud.io}}
  dockerhub: {{kind: docker-hub}}
  ghcr-direct:
    kind: registry
    url: https://ghcr.io
    username: ghcr-bot
    password: ${{GHCR_TOKEN}}
caches:
  dockerhub:
    upstreams: [cf-worker, hk-nginx, daocloud, dockerhub]
  ghcr:
    mirrors: ghcr.io
    upstreams: [ghcr-direct]
targets:
  edge:
    kind: registry
    output: {out}/edge
    listen: {{dockerhub: 127.0.0.1:5000, ghcr: 127.0.0.1:5001}}
    http_secret: ${{EDGE_HTTP_SECRET}}
  hq-nexus:
    kind: nexus
    url: {nexus}
    username: admin
    password: ${{NEXUS_PASSWORD}}
    anonymous_pull: true
    timeout: {timeout}s
    bootstrap:
      initial_password_file: {password_file}
      accept_eula: true
      wait: 20s
  hq-harbor:
    kind: harbor
    url: {harbor}
    username: admin
    password: ${{HARBOR_PASSWORD}}
    public: true
    timeout: {timeout}s
    bootstrap:
      initial_password: {harbor_initial}
      wait: 20s
clients:
  output: {out}/clients
"""


class LateAnswers:
    """Mixin for a fake: commit the Nth write, then hold its answer past the client's timeout.

    This is the ambiguous failure the base faults cannot make (they never reach the handler):
    the server did the work, the client saw a timeout. ``late_skip`` is N (None = off).
    ``rewrite`` replaces the answer of a handled request (tests/reliability/malformed.py).
    """

    late_skip: int | None = None
    rewrite: Callable[[Request, Response], Response] | None = None  # garble answers (malformed)
    hang_seconds: float
    lock: Any

    @property
    def handled(self) -> list[tuple[str, str, bytes]]:
        """Every write the handler processed: (method, path, body), in order."""
        return self.__dict__.setdefault("_handled", [])

    def handle(self, request: Request) -> Response:
        response: Response = super().handle(request)  # type: ignore[misc]
        if self.rewrite is not None:
            response = self.rewrite(request, response)
        if request.method in WRITE_METHODS:
            with self.lock:
                self.handled.append((request.method, request.path, request.body))
            with self.lock:
                turn = self.late_skip
                if turn is not None:
                    self.late_skip = turn - 1 if turn > 0 else None
            if turn == 0:
                time.sleep(self.hang_seconds)
        return response


class LabNexus(LateAnswers, NexusFake):
    pass


class LabHarbor(LateAnswers, FakeHarbor):
    pass


@dataclass
class Run:
    """One CLI run."""

    args: tuple[str, ...]
    returncode: int  # -1 when it hung past CLI_TIMEOUT and was killed
    stdout: str
    stderr: str
    seconds: float

    @property
    def hung(self) -> bool:
        return self.returncode == -1

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("Error:")]


@dataclass
class Lab:
    root: Path
    nexus: LabNexus
    harbor: LabHarbor
    profile: Path
    env: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.root / "out"

    def cli(self, *args: str, env: dict[str, str] | None = None, file_fault: str = "") -> Run:
        """Run the CLI in a subprocess with the lab's secrets in the environment.

        ``file_fault`` (``enospc:3``) fails that generated-file write (tests/reliability/filefault).
        """
        command = cli_command(*args)
        extra = dict(env or {})
        if file_fault:
            command = [sys.executable, "-c", filefault.BOOT, *args]
            extra.update({filefault.ENV: file_fault, "PYTHONPATH": str(REPO)})
        start = time.monotonic()
        try:
            proc = subprocess.run(command, capture_output=True, text=True,
                                  env={**self.env, **extra}, timeout=CLI_TIMEOUT,
                                  check=False, cwd=self.root)
            run = Run(tuple(args), proc.returncode, proc.stdout, proc.stderr,
                      time.monotonic() - start)
        except subprocess.TimeoutExpired as exc:
            run = Run(tuple(args), -1, _text(exc.stdout), _text(exc.stderr),
                      time.monotonic() - start)
        self.runs.append(run)
        return run

    def apply(self, *extra: str, file_fault: str = "") -> Run:
        return self.cli("apply", str(self.profile), "-y", *extra, file_fault=file_fault)

    def plan_addresses(self) -> list[str]:
        run = self.cli("diff", str(self.profile), "--json")
        assert run.returncode == 0, run.stderr
        return [c["address"] for c in json.loads(run.stdout)["resource_changes"]]

    # -- comparable state -----------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Both servers and every generated file, without ids and timestamps."""
        places = {str(self.root): "<root>", f"127.0.0.1:{self.nexus.port}": "<nexus>",
                  f"127.0.0.1:{self.harbor.port}": "<harbor>"}
        return {"nexus": nexus_state(self.nexus), "harbor": harbor_state(self.harbor),
                "files": files_state(self.out, places)}

    def foreign(self) -> dict[str, Any]:
        """Only the resources this tool does not own."""
        n, h = nexus_state(self.nexus), harbor_state(self.harbor)
        return {
            "nexus": {name: n["repos"].get(name) for name in FOREIGN_NEXUS},
            "harbor": {"registry": h["registries"].get(FOREIGN_HARBOR_REGISTRY),
                       "project": h["projects"].get(FOREIGN_HARBOR_PROJECT),
                       "library": h["projects"].get("library")},
        }


@contextmanager
def lab(root: Path, *, latency: float = 0.0) -> Iterator[Lab]:
    """A fresh world: both servers fresh (bootstrap pending), foreign resources planted."""
    root.mkdir(parents=True, exist_ok=True)
    password_file = root / "admin.password"
    hang = TIMEOUT + 0.5
    nexus = LabNexus(password_file=password_file, hang_seconds=hang, latency=latency)
    harbor = LabHarbor(initial_password=HARBOR_INITIAL, login_lock_seconds=0.05,
                       hang_seconds=hang, latency=latency)
    for fake in (nexus, harbor):
        fake.start()
        # A late answer goes to a client that gave up: the broken pipe is expected, not news.
        fake._httpd.handle_error = lambda request, address: None  # type: ignore[union-attr,method-assign]
    try:
        plant_foreign(nexus, harbor)
        profile = root / "profile.yaml"
        profile.write_text(PROFILE.format(
            out=root / "out", nexus=nexus.url, harbor=harbor.url, password_file=password_file,
            timeout=f"{TIMEOUT:g}", harbor_initial=HARBOR_INITIAL), encoding="utf-8")
        yield Lab(root, nexus, harbor, profile, subprocess_env(**SECRETS))
    finally:
        nexus.stop()
        harbor.stop()


def plant_foreign(nexus: NexusFake, harbor: FakeHarbor) -> None:
    """Resources a colleague made by hand; names close to the tool's own on purpose."""
    nexus.add_repository(docker_proxy_body(FOREIGN_NEXUS[0], "https://registry-1.docker.io"))
    nexus.add_repository(maven_hosted_body(FOREIGN_NEXUS[1]), fmt="maven", type="hosted")
    rid = harbor.add_registry(FOREIGN_HARBOR_REGISTRY, "https://registry-1.docker.io",
                              access_key="colleague", access_secret="colleague-secret")
    harbor.add_project(FOREIGN_HARBOR_PROJECT, registry_id=rid, public=False)


# -- state reduction ------------------------------------------------------------------------------
_VOLATILE = {"id", "creation_time", "update_time", "project_id", "registry_id", "owner_id",
             "retention_id", "user_id", "status"}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def nexus_state(fake: NexusFake) -> dict[str, Any]:
    with fake.lock:
        return copy.deepcopy({
            "repos": {name: {"format": r.path_format, "type": r.type, "body": r.body}
                      for name, r in fake.repos.items()},
            "blobstores": sorted(fake.blobstores),
            "realms": list(fake.active_realms),
            "anonymous": fake.anonymous,
            "eula": fake.eula_accepted,
            "admin_password": fake.admin_password,
        })


def harbor_state(fake: FakeHarbor) -> dict[str, Any]:
    with fake.lock:
        names = {rid: r["name"] for rid, r in fake.registries.items()}
        registries: dict[str, Any] = {}
        duplicates: list[str] = []
        for r in fake.registries.values():
            if r["name"] in registries:
                duplicates.append(r["name"])
            registries[r["name"]] = _strip(r)
        projects = {}
        for name, p in fake.projects.items():
            view = _strip(p)
            view["registry"] = names.get(p.get("registry_id"))
            projects[name] = view
        return copy.deepcopy({"registries": registries, "projects": projects,
                              "duplicates": duplicates,
                              "admin_password": fake.users["admin"]["password"]})


def files_state(out: Path, places: dict[str, str] | None = None) -> dict[str, Any]:
    """Every file under ``out``: content and mode; leftover temp files show up too.

    ``places`` maps run-specific text (the lab's directory, the fakes' ports) to placeholders
    so two labs that converged to the same thing compare equal.
    """
    found: dict[str, Any] = {}
    if out.exists():
        for path in sorted(out.rglob("*")):
            if path.is_file():
                text = path.read_text(errors="replace")
                for real, placeholder in (places or {}).items():
                    text = text.replace(real, placeholder)
                found[str(path.relative_to(out))] = (text, oct(path.stat().st_mode & 0o777))
    return found


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.decode(errors="replace")


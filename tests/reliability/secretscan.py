"""The secrets scan's world and its scans (used by test_secrets_scan.py and figures.py).

One world (fresh fake Nexus and Harbor with bootstrap, four fake upstreams, two of them with
credentials, every target kind and generated file) runs every command with ``--debug``:
validate, schema, diff, diff --json, probe, probe --json, apply, watch (rounds at a 1 s
interval, one upstream dying so the Harbor endpoint and the Registry config switch to an
upstream with a password) and failing runs (a server that echoes the request body back in its
error, a server error, a wrong password). Then everything is scanned for every secret, raw and
as it would appear in an ``Authorization`` header:

- stdout and stderr of every run (the log is stderr);
- every file under the output directory: a file holding a secret must be mode 0600, and no
  file may be left half-written;
- the servers' stored objects: a secret may only sit in its own credential field.
"""

from __future__ import annotations

import base64
import re
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import cli_command
from tests.fakes.base import Fault, Request, Response
from tests.fakes.probe_upstream import FakeUpstream
from tests.reliability.lab import (
    HARBOR_INITIAL,
    SECRETS,
    Lab,
    Run,
    harbor_state,
    lab,
    nexus_state,
)

WRONG = {"NEXUS_PASSWORD": "Wrong-Nexus-Pass-1", "HARBOR_PASSWORD": "Wrong-Harbor-Pass-2"}
USERS = {"NEXUS_PASSWORD": "admin", "HARBOR_PASSWORD": "admin", "HK_PROXY_PASSWORD": "puller",
         "GHCR_TOKEN": "ghcr-bot"}
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


@contextmanager
def build(root: Path) -> Iterator[World]:
    """Run every command in a fresh world at ``root``; yields it while the servers still run."""
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
            # The ghcr project is still to be made (its endpoint's create "failed"): a 500.
            the_lab.harbor.inject(Fault("500", method="POST", path_prefix="/api/v2.0/projects"))
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


# -- the scans: each returns its hits (empty = clean) -------------------------------------------
def output_hits(world: World) -> list[str]:
    return [f"{name} in {' '.join(run.args[:2])} {stream}"
            for run in world.runs for stream, text in (("stdout", run.stdout),
                                                       ("stderr", run.stderr))
            for name, value in world.secrets().items() if value in text]


def generated_files(world: World) -> list[Path]:
    return [p for p in world.lab.out.rglob("*") if p.is_file()]


def file_hits(world: World) -> list[str]:
    """Files holding a secret that are not 0600, and temporary files left behind."""
    out = world.lab.out
    hits = []
    for path in generated_files(world):
        text = path.read_text(errors="replace")
        mode = stat.S_IMODE(path.stat().st_mode)
        held = [name for name, value in world.secrets().items() if value in text]
        if held and mode != 0o600:
            hits.append(f"{path.relative_to(out)} ({oct(mode)}) holds {held}")
        if path.name.endswith(".tmp"):
            hits.append(f"{path.relative_to(out)}: a temporary file left behind")
    return hits


def server_hits(world: World) -> list[str]:
    """Secrets stored on a server anywhere but their own credential field."""
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
    return misplaced

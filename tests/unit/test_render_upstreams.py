"""The ``upstreams`` unit: one set of files per upstream with a deploy block, planned as files."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner import engine
from provisioner.backends.base import Options, TargetContext
from provisioner.errors import PlanError
from provisioner.plan import Action
from provisioner.profile import parse_profile
from provisioner.render.upstreams import UpstreamsBackend
from provisioner.selection import listed_order


def ctx_for(tmp_path: Path, extra: str = "") -> TargetContext:
    profile = parse_profile(f"""\
version: 1
probe: {{enabled: false}}
upstreams:
  cf-worker:
    kind: cloudflare-worker
    url: https://hub.example.xyz
    deploy: {{kind: cloudflare-worker, output: {tmp_path}/worker}}
  hk-nginx:
    kind: nginx-proxy
    url: https://mirror.example.com
    deploy: {{kind: nginx, output: {tmp_path}/nginx, server_name: mirror.example.com}}
  daocloud: {{kind: mirror, url: 'https://docker.m.daocloud.io'}}
{extra}""")
    return engine.build_units(profile, listed_order(profile), Options(), ["upstreams"])[0]


def test_files_addresses_and_convergence(tmp_path: Path) -> None:
    backend, ctx = UpstreamsBackend(), ctx_for(tmp_path)
    desired = backend.desired(ctx)
    assert sorted(desired) == ["upstreams.cf-worker/worker.js", "upstreams.cf-worker/wrangler.toml",
                               "upstreams.hk-nginx/hk-nginx.conf"]
    assert desired["upstreams.hk-nginx/hk-nginx.conf"].path == tmp_path / "nginx" / "hk-nginx.conf"
    assert not any(spec.secret for spec in desired.values())
    changes = backend.plan(ctx, desired, backend.read_actual(None, ctx, desired))
    assert [c.action for c in changes] == [Action.CREATE] * 3
    for change in changes:
        backend.apply(None, change)
    again = backend.plan(ctx, desired, backend.read_actual(None, ctx, desired))
    assert all(c.is_noop for c in again)
    assert not ctx.notes


def test_two_workers_in_one_directory_is_a_plan_error(tmp_path: Path) -> None:
    extra = f"""\
  cf-two:
    kind: cloudflare-worker
    url: https://hub2.example.xyz
    deploy: {{kind: cloudflare-worker, output: {tmp_path}/worker}}
"""
    with pytest.raises(PlanError, match="cf-worker and cf-two would both write"):
        UpstreamsBackend().desired(ctx_for(tmp_path, extra))


def test_unverified_upstream_tls_is_a_warning(tmp_path: Path) -> None:
    extra = f"""\
  sg-nginx:
    kind: nginx-proxy
    url: https://sg.example.com
    deploy: {{kind: nginx, output: {tmp_path}/nginx, server_name: sg.example.com,
              upstream_ca: null}}
"""
    ctx = ctx_for(tmp_path, extra)
    UpstreamsBackend().desired(ctx)
    assert [n.level for n in ctx.notes] == ["warning"]
    assert "sg-nginx" in ctx.notes[0].message

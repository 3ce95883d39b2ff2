"""The Harbor planner, table-driven: desired + Harbor's objects -> changes (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from provisioner.backends.base import Options, TargetContext
from provisioner.backends.harbor import desired as desired_mod
from provisioner.backends.harbor.actual import Actual, needs_write
from provisioner.backends.harbor.planner import WriteEndpoint, WriteProject, plan
from provisioner.errors import PlanError
from provisioner.plan import Action, Change, Plan
from provisioner.profile.load import parse_profile
from provisioner.render.plan_text import render_plan
from provisioner.selection import Selection, listed_order

PROFILE = """
version: 1
upstreams:
  cf-worker: {kind: cloudflare-worker, url: https://hub.example.xyz}
  hk-nginx:
    {kind: nginx-proxy, url: https://mirror.example.com, username: puller, password: Pull3rPass}
  dockerhub: {kind: docker-hub}
caches:
  dockerhub: {upstreams: [cf-worker, hk-nginx, dockerhub]}
  ghcr: {mirrors: ghcr.io, upstreams: [hk-nginx]}
targets:
  hq:
    kind: harbor
    url: https://harbor.test
    username: admin
    password: Adm1nPassw0rd
    public: true
    proxy_speed_kb: 2048
"""


def ctx_for(active: dict[str, str] | None = None, stranded: frozenset[str] = frozenset(),
            options: Options | None = None, caches: list[str] | None = None) -> TargetContext:
    text = PROFILE if caches is None else PROFILE + f"    caches: [{', '.join(caches)}]\n"
    profile = parse_profile(text)
    base = listed_order(profile)
    selection = Selection(active={**base.active, **(active or {})}, order=base.order,
                          stranded=stranded)
    return TargetContext("hq", "harbor", profile.targets["hq"], profile, selection,
                         options or Options())


def registry(ctx: TargetContext, cache: str, rid: int, **override: Any) -> dict[str, Any]:
    """Harbor's view of the endpoint this tool would create for ``cache`` (secret masked)."""
    spec = desired_mod.build(ctx).endpoints[cache]
    item = {"id": rid, "name": spec.name, "type": spec.type, "url": spec.url,
            "insecure": spec.insecure, "description": spec.description, "status": "healthy",
            "credential": {"type": "basic", "access_key": spec.access_key,
                           "access_secret": "*****"}}
    item.update(override)
    return item


def stale_fp(item: dict[str, Any]) -> str:
    """The endpoint's description with the fingerprint of another password."""
    return re.sub(r"secret=[0-9a-f]{16}", "secret=" + "0" * 16, item["description"])


def project(name: str, registry_id: int | None, **metadata: str) -> dict[str, Any]:
    meta = {"public": "true", "proxy_speed_kb": "2048", "retention_id": "4", **metadata}
    return {"project_id": 10, "name": name, "registry_id": registry_id, "metadata": meta}


@dataclass
class Case:
    id: str
    registries: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    active: dict[str, str] = field(default_factory=dict)
    stranded: frozenset[str] = frozenset()
    options: Options = field(default_factory=Options)
    version: tuple[int, int, int] | None = (2, 15, 2)
    unreachable: dict[str, str] = field(default_factory=dict)
    expect: dict[str, str] = field(default_factory=dict)  # address -> action value
    blocked: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def run(case: Case) -> tuple[TargetContext, list[Change]]:
    ctx = ctx_for(case.active, case.stranded, case.options)
    built = ctx_for()  # registries are described as the listed-order plan would have made them
    regs = [r(built) if callable(r) else r for r in case.registries]
    actual = Actual(case.version, {r["name"]: r for r in regs},
                    {p["name"]: p for p in case.projects}, case.unreachable)
    return ctx, plan(ctx, desired_mod.build(ctx), actual)


E, P = "harbor.hq.endpoint.", "harbor.hq.project."
BOTH = [lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2)]
CASES = [
    Case("fresh", expect={E + "dockerhub": "create", P + "dockerhub": "create",
                          E + "ghcr": "create", P + "ghcr": "create"}),
    Case("converged",
         registries=[lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2)],
         projects=[project("dockerhub", 1), project("ghcr", 2)],
         expect={E + "dockerhub": "no-op", P + "dockerhub": "no-op", E + "ghcr": "no-op",
                 P + "ghcr": "no-op"}),
    Case("upstream switch is an in-place URL swap",
         registries=[lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2)],
         projects=[project("dockerhub", 1), project("ghcr", 2)],
         active={"dockerhub": "hk-nginx"},
         expect={E + "dockerhub": "update", P + "dockerhub": "no-op"}),
    Case("metadata drift updates the project",
         registries=[lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2)],
         projects=[project("dockerhub", 1, public="false"),
                   project("ghcr", 2, proxy_speed_kb="-1")],
         expect={P + "dockerhub": "update", P + "ghcr": "update", E + "ghcr": "no-op"}),
    Case("project bound elsewhere is a blocked replace",
         registries=[lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2),
                     {"id": 9, "name": "hub-by-hand", "type": "docker-hub",
                      "url": "https://hub.docker.com", "description": ""}],
         projects=[project("dockerhub", 9), project("ghcr", 2)],
         expect={P + "dockerhub": "replace"}, blocked={P + "dockerhub"}),
    Case("project bound elsewhere with --replace",
         registries=[lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2),
                     {"id": 9, "name": "hub-by-hand", "type": "docker-hub", "url": "x"}],
         projects=[project("dockerhub", 9), project("ghcr", 2)],
         options=Options(allow_replace=True),
         expect={P + "dockerhub": "replace"}),
    Case("our endpoint with another type is a replace of both",
         registries=[lambda c: registry(c, "dockerhub", 1, type="docker-hub"),
                     lambda c: registry(c, "ghcr", 2)],
         projects=[project("dockerhub", 1), project("ghcr", 2)],
         expect={E + "dockerhub": "replace", P + "dockerhub": "replace"},
         blocked={E + "dockerhub", P + "dockerhub"}),
    Case("stranded cache keeps its endpoint",
         registries=[lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2)],
         projects=[project("dockerhub", 1), project("ghcr", 2)],
         active={"dockerhub": "dockerhub"}, stranded=frozenset({"dockerhub"}),
         expect={E + "dockerhub": "no-op", P + "dockerhub": "no-op"},
         notes=["no healthy upstream; keeping endpoint provisioner-dockerhub"]),
    Case("stranded cache without endpoint waits",
         registries=[lambda c: registry(c, "ghcr", 2)], projects=[project("ghcr", 2)],
         stranded=frozenset({"dockerhub"}),
         expect={E + "ghcr": "no-op"}, notes=["cannot be created yet"]),
    Case("changed password is a masked update",
         registries=[lambda c: registry(c, "dockerhub", 1),
                     lambda c: registry(c, "ghcr", 2,
                                        description=stale_fp(registry(c, "ghcr", 2)))],
         projects=[project("dockerhub", 1), project("ghcr", 2)],
         expect={E + "ghcr": "update", E + "dockerhub": "no-op"}),
    Case("old Harbor drops proxy_speed_kb",
         registries=[lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2)],
         projects=[project("dockerhub", 1, proxy_speed_kb="5"), project("ghcr", 2)],
         version=(2, 11, 0),
         expect={P + "dockerhub": "no-op"}, notes=["Harbor 2.11.0 has no proxy_speed_kb"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plan_table(case: Case) -> None:
    ctx, changes = run(case)
    got = {c.address: c.action.value for c in changes}
    for address, action in case.expect.items():
        assert got.get(address) == action, (address, got)
    assert {c.address for c in changes if c.blocked} == case.blocked
    text = " | ".join(n.message for n in ctx.notes)
    for note in case.notes:
        assert note in text


def test_url_swap_resends_the_secret_and_keeps_the_id() -> None:
    case = CASES[2]
    _, changes = run(case)
    change = next(c for c in changes if c.address == E + "dockerhub")
    assert isinstance(change.payload, WriteEndpoint)
    assert change.payload.registry_id == 1
    body = change.payload.spec.update_body()
    assert body["url"] == "https://mirror.example.com"
    assert body["access_secret"] == "Pull3rPass" and body["access_key"] == "puller"
    assert {d.path for d in change.diffs} >= {"url", "credential.access_key", "description"}
    secret_diff = next(d for d in change.diffs if d.path == "credential.access_secret")
    assert secret_diff.masked


def test_masked_secret_never_causes_a_diff() -> None:
    ctx = ctx_for()
    spec = desired_mod.build(ctx).endpoints["ghcr"]
    assert not needs_write(spec, registry(ctx, "ghcr", 2))
    assert needs_write(spec, registry(ctx, "ghcr", 2, description="edited by hand [provisioner:"
                                      "target=hq,cache=ghcr,secret=0000000000000000]"))


def test_changed_password_renders_masked() -> None:
    _, changes = run(CASES[9])
    change = next(c for c in changes if c.address == E + "ghcr")
    assert [d.path for d in change.diffs] == ["credential.access_secret"]
    text = render_plan(Plan(tuple(changes)))
    assert "credential.access_secret: (sensitive)" in text


def test_project_create_depends_on_endpoint_and_needs_its_id_later() -> None:
    _, changes = run(CASES[0])
    proj = next(c for c in changes if c.address == P + "dockerhub")
    assert proj.depends_on == (E + "dockerhub",)
    assert isinstance(proj.payload, WriteProject) and proj.payload.registry_id is None
    assert proj.after == {"registry": "provisioner-dockerhub",
                          "metadata": {"public": "true", "proxy_speed_kb": "2048"}}


def test_non_proxy_project_with_the_cache_name_is_an_error() -> None:
    case = Case("x", projects=[project("dockerhub", None)])
    with pytest.raises(PlanError, match="not a proxy-cache project"):
        run(case)


def test_foreign_endpoint_with_our_name_is_an_error() -> None:
    case = Case("x", registries=[{"id": 3, "name": "provisioner-dockerhub",
                                  "type": "docker-registry", "url": "https://x",
                                  "description": "mine"}])
    with pytest.raises(PlanError, match="did not create"):
        run(case)


def test_unreachable_upstream_is_a_plan_error_naming_it() -> None:
    case = Case("x", registries=BOTH,
                projects=[project("dockerhub", 1), project("ghcr", 2)],
                active={"dockerhub": "hk-nginx"},
                unreachable={"dockerhub": "the registry is unhealthy (BAD_REQUEST)"})
    with pytest.raises(PlanError) as caught:
        run(case)
    text = str(caught.value)
    assert "upstream hk-nginx (https://mirror.example.com) of cache dockerhub" in text
    assert "nothing was changed" in text


def test_unreachable_but_unchanged_endpoint_is_fine() -> None:
    case = Case("x", registries=BOTH,
                projects=[project("dockerhub", 1), project("ghcr", 2)],
                unreachable={})
    _, changes = run(case)
    assert all(c.is_noop for c in changes)


def _orphan(ctx: TargetContext) -> dict[str, Any]:
    return {"id": 7, "name": "provisioner-old", "type": "docker-registry", "url": "https://old",
            "description": "x [provisioner:target=hq,cache=old,secret=none]"}


def test_prune_deletes_only_marked_resources_of_this_target() -> None:
    regs = [lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2), _orphan,
            {"id": 8, "name": "other-target", "type": "docker-registry", "url": "https://o",
             "description": "[provisioner:target=edge,cache=old2,secret=none]"},
            {"id": 9, "name": "by-hand", "type": "docker-registry", "url": "https://h"}]
    projects = [project("dockerhub", 1), project("ghcr", 2), project("old", 7),
                project("old2", 8), project("handmade", 9)]
    _, kept = run(Case("x", registries=regs, projects=projects))
    assert all(c.is_noop for c in kept)
    ctx, changes = run(Case("x", registries=regs, projects=projects, options=Options(prune=True)))
    deletes = {c.address: c for c in changes if c.action is Action.DELETE}
    assert set(deletes) == {E + "old", P + "old"}
    assert deletes[E + "old"].depends_on == (P + "old",)


def test_prune_keeps_an_endpoint_still_used_by_a_foreign_project() -> None:
    regs = [lambda c: registry(c, "dockerhub", 1), lambda c: registry(c, "ghcr", 2), _orphan]
    projects = [project("dockerhub", 1), project("ghcr", 2), project("old", 7), project("mine", 7)]
    ctx, changes = run(Case("x", registries=regs, projects=projects, options=Options(prune=True)))
    assert {c.address for c in changes if c.action is Action.DELETE} == {P + "old"}
    assert any("still use it" in n.message for n in ctx.notes)


def test_replace_reason_names_the_flag() -> None:
    _, changes = run(CASES[4])
    change = next(c for c in changes if c.address == P + "dockerhub")
    assert "hub-by-hand" in change.reason and "--replace" in change.reason
    assert "drops its cached images" in change.blocked


@pytest.mark.parametrize("bad", ["trailing-", "double--dash"])
def test_cache_names_harbor_refuses_are_a_plan_error(bad: str) -> None:
    profile = parse_profile(PROFILE.replace("  ghcr: {mirrors", f"  {bad}: {{mirrors"))
    ctx = TargetContext("hq", "harbor", profile.targets["hq"], profile, listed_order(profile))
    with pytest.raises(PlanError, match="not a valid Harbor project name"):
        plan(ctx, desired_mod.build(ctx), Actual((2, 15, 2), {}, {}))


def test_type_change_refuses_to_take_a_foreign_project_down_with_it() -> None:
    case = Case("x", registries=[lambda c: registry(c, "dockerhub", 1, type="docker-hub"),
                                 lambda c: registry(c, "ghcr", 2)],
                projects=[project("dockerhub", 1), project("ghcr", 2), project("handmade", 1)],
                options=Options(allow_replace=True))
    with pytest.raises(PlanError, match="handmade also use it"):
        run(case)


def test_type_change_of_an_unused_endpoint_needs_no_flag() -> None:
    case = Case("x", registries=[lambda c: registry(c, "dockerhub", 1, type="docker-hub"),
                                 lambda c: registry(c, "ghcr", 2)],
                projects=[project("ghcr", 2)])
    _, changes = run(case)
    got = {c.address: (c.action.value, bool(c.blocked)) for c in changes}
    assert got[E + "dockerhub"] == ("replace", False)
    assert got[P + "dockerhub"] == ("create", False)

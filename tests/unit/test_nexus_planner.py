"""Planning a Nexus target: table-driven, desired + actual in, changes out (no I/O).

The actual state is made the way a server would show it: desired request bodies stored and
rendered through the fake Nexus's GET view (``tests.fakes.nexus_repos.render``), which drops the
write-only password and adds fields a newer Nexus reports.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from provisioner.backends.base import TargetContext
from provisioner.backends.nexus import desired as desired_mod
from provisioner.backends.nexus import planner
from provisioner.backends.nexus.actual import NexusActual, RepoState
from provisioner.errors import PlanError
from provisioner.plan import Action, Change
from provisioner.selection import Selection
from tests.fakes.nexus_repos import RepoRecord, docker_proxy_body, maven_hosted_body, render
from tests.unit.test_nexus_desired import make_ctx

ALL_HUB = "cf-worker, hk-nginx, daocloud, dockerhub"
FRESH_REALMS = ("NexusAuthenticatingRealm", "NexusAuthorizingRealm")


def view(body: dict[str, Any], rtype: str, fmt: str = "docker") -> RepoState:
    record = RepoRecord(body["name"], fmt, rtype, copy.deepcopy(body))
    return RepoState(record.name, record.format, rtype, render(record, "http://nexus", True))


def server(
    ctx: TargetContext | None = None,
    *,
    extra: tuple[RepoState, ...] = (),
    edit: Callable[[dict[str, Any]], None] | None = None,
    realms: tuple[str, ...] = (*FRESH_REALMS, "DockerToken"),
    anonymous: bool = True,
) -> NexusActual:
    """What a server provisioned from ``ctx``'s profile shows (``edit`` changes stored bodies)."""
    repos: dict[str, RepoState] = {}
    if ctx is not None:
        for repo in desired_mod.build(ctx).repos:
            body = copy.deepcopy(repo.body)
            if edit is not None:
                edit(body)
            repos[repo.name] = view(body, repo.rtype)
    for state in extra:
        repos[state.name] = state
    return NexusActual(
        repos,
        frozenset({"default"}),
        realms,
        {"enabled": anonymous, "userId": "anonymous", "realmName": "NexusAuthorizingRealm"},
    )


def run(ctx: TargetContext, actual: NexusActual) -> list[Change]:
    return planner.plan(ctx, desired_mod.build(ctx), actual)


def pending(changes: list[Change]) -> dict[str, Action]:
    return {c.address.removeprefix("nexus.hq."): c.action for c in changes if not c.is_noop}


def by_address(changes: list[Change], short: str) -> Change:
    return next(c for c in changes if c.address == f"nexus.hq.{short}")


# (id, desired ctx, actual state, expected pending changes)
CASES: list[
    tuple[str, Callable[[], TargetContext], Callable[[], NexusActual], dict[str, Action]]
] = [
    ("in-sync", make_ctx, lambda: server(make_ctx()), {}),
    (
        "fresh",
        make_ctx,
        lambda: server(None, realms=FRESH_REALMS, anonymous=False),
        {
            **{
                f"repository.{n}": Action.CREATE
                for n in (
                    "dockerhub-cf-worker",
                    "dockerhub-hk-nginx",
                    "dockerhub-daocloud",
                    "dockerhub-dockerhub",
                    "ghcr-ghcr-direct",
                    "dockerhub",
                    "ghcr",
                )
            },
            "security.realms": Action.UPDATE,
            "security.anonymous": Action.UPDATE,
        },
    ),
    (
        "reordered-upstreams-change-only-the-group",
        lambda: make_ctx(hub="daocloud, cf-worker, hk-nginx, dockerhub"),
        lambda: server(make_ctx()),
        {"repository.dockerhub": Action.UPDATE},
    ),
    (
        "removed-upstream-without-prune-keeps-the-proxy",
        lambda: make_ctx(hub="cf-worker, hk-nginx, dockerhub"),
        lambda: server(make_ctx()),
        {"repository.dockerhub": Action.UPDATE},
    ),
    (
        "removed-upstream-with-prune-deletes-that-proxy",
        lambda: make_ctx(hub="cf-worker, hk-nginx, dockerhub", prune=True),
        lambda: server(make_ctx()),
        {"repository.dockerhub": Action.UPDATE, "repository.dockerhub-daocloud": Action.DELETE},
    ),
    (
        "changed-upstream-password-updates-that-proxy",
        lambda: make_ctx(pw="new-pass"),
        lambda: server(make_ctx(pw="old-pass")),
        {"repository.dockerhub-hk-nginx": Action.UPDATE},
    ),
    (
        "unowned-docker-proxy-untouched-even-with-prune",
        lambda: make_ctx(prune=True),
        lambda: server(
            make_ctx(), extra=(view(docker_proxy_body("mine", "https://x.example"), "proxy"),)
        ),
        {},
    ),
    (
        "changed-remote-url",
        make_ctx,
        lambda: server(
            make_ctx(),
            edit=lambda b: (
                b.get("proxy", {}).update(remoteUrl="https://old.example")
                if b["name"] == "ghcr-ghcr-direct"
                else None
            ),
        ),
        {"repository.ghcr-ghcr-direct": Action.UPDATE},
    ),
    (
        "trailing-slash-and-extra-fields-are-not-changes",
        make_ctx,
        lambda: server(
            make_ctx(),
            edit=lambda b: (
                b.get("proxy", {}).update(remoteUrl=b["proxy"]["remoteUrl"] + "/")
                if "proxy" in b
                else None
            ),
        ),
        {},
    ),
    (
        "realms-appended-never-dropped",
        make_ctx,
        lambda: server(make_ctx(), realms=("NexusAuthenticatingRealm", "LdapRealm")),
        {"security.realms": Action.UPDATE},
    ),
    (
        "no-anonymous-pull-leaves-security-alone",
        lambda: make_ctx(extra="    anonymous_pull: false"),
        lambda: server(
            make_ctx(extra="    anonymous_pull: false"), realms=FRESH_REALMS, anonymous=False
        ),
        {},
    ),
]


@pytest.mark.parametrize(
    ("ctx", "actual", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_plan(
    ctx: Callable[[], TargetContext], actual: Callable[[], NexusActual], expected: dict[str, Action]
) -> None:
    assert pending(run(ctx(), actual())) == expected


def test_create_orders_blob_store_proxies_group() -> None:
    ctx = make_ctx(extra="    blob_store: docker")
    actual = replace(server(None), blobstores=frozenset({"default"}))
    changes = run(ctx, actual)
    assert by_address(changes, "blobstore.docker").action is Action.CREATE
    group = by_address(changes, "repository.dockerhub")
    assert set(group.depends_on) == {
        "nexus.hq.blobstore.docker",
        *(
            f"nexus.hq.repository.dockerhub-{u}"
            for u in ("cf-worker", "hk-nginx", "daocloud", "dockerhub")
        ),
    }
    proxy = by_address(changes, "repository.dockerhub-cf-worker")
    assert proxy.depends_on == ("nexus.hq.blobstore.docker",)
    assert proxy.payload.body["storage"]["blobStoreName"] == "docker"


def test_reorder_diff_is_the_member_list_only() -> None:
    changes = run(make_ctx(hub="daocloud, cf-worker, hk-nginx, dockerhub"), server(make_ctx()))
    group = by_address(changes, "repository.dockerhub")
    assert [d.path for d in group.diffs] == ["group.memberNames"]
    assert group.diffs[0].new[0] == "dockerhub-daocloud"
    assert group.depends_on == ()  # no proxy changes to wait for


def test_prune_deletes_after_the_group_update() -> None:
    changes = run(make_ctx(hub="cf-worker, hk-nginx, dockerhub", prune=True), server(make_ctx()))
    delete = by_address(changes, "repository.dockerhub-daocloud")
    assert delete.depends_on == ("nexus.hq.repository.dockerhub",)
    assert delete.payload.verb == "delete"


def test_without_prune_a_note_names_the_leftover() -> None:
    ctx = make_ctx(hub="cf-worker, hk-nginx, dockerhub")
    run(ctx, server(make_ctx()))
    assert any("dockerhub-daocloud" in n.message and "--prune" in n.message for n in ctx.notes)


def test_dropped_cache_with_prune_deletes_its_group_then_proxies() -> None:
    wide = make_ctx()
    narrow = make_ctx(extra="    caches: [dockerhub]\n    anonymous_pull: true", prune=True)
    changes = run(narrow, server(wide))
    assert pending(changes) == {
        "repository.ghcr": Action.DELETE,
        "repository.ghcr-ghcr-direct": Action.DELETE,
    }
    assert (
        "nexus.hq.repository.ghcr" in by_address(changes, "repository.ghcr-ghcr-direct").depends_on
    )


def test_password_change_is_a_masked_diff() -> None:
    changes = run(make_ctx(pw="new-pass"), server(make_ctx(pw="old-pass")))
    change = by_address(changes, "repository.dockerhub-hk-nginx")
    assert [(d.path, d.sensitive) for d in change.diffs] == [(desired_mod.SECRET_FIELD, True)]
    assert change.payload.body["httpClient"]["authentication"]["password"] == "new-pass"


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        (view(maven_hosted_body("dockerhub"), "hosted", "maven"), "maven2 hosted"),
        (view(docker_proxy_body("dockerhub", "https://x.example"), "proxy"), "docker proxy"),
        (view(docker_proxy_body("DockerHub", "https://x.example"), "proxy"), "ignoring case"),
    ],
)
def test_name_taken_by_another_type_is_a_plan_error(existing: RepoState, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        run(make_ctx(), server(None, extra=(existing,)))


def test_unmarked_same_type_repository_is_adopted() -> None:
    def strip_marker(body: dict[str, Any]) -> None:
        if "httpClient" in body:
            body["httpClient"]["connection"].pop("userAgentSuffix")

    changes = run(make_ctx(), server(make_ctx(), edit=strip_marker))
    change = by_address(changes, "repository.ghcr-ghcr-direct")
    assert change.action is Action.UPDATE and "adopting" in change.reason


def test_blob_store_is_never_changed_in_place() -> None:
    ctx = make_ctx(extra="    anonymous_pull: true\n    blob_store: docker")
    changes = run(ctx, replace(server(make_ctx()), blobstores=frozenset({"default", "docker"})))
    assert pending(changes) == {}
    assert any("stays on blob store 'default'" in n.message for n in ctx.notes)


def test_realms_keep_order_and_append_docker_token() -> None:
    changes = run(make_ctx(), server(make_ctx(), realms=("NexusAuthenticatingRealm", "LdapRealm")))
    change = by_address(changes, "security.realms")
    assert change.after == {"active": ["NexusAuthenticatingRealm", "LdapRealm", "DockerToken"]}


def test_anonymous_keeps_user_and_realm() -> None:
    actual = replace(
        server(make_ctx(), anonymous=False),
        anonymous={"enabled": False, "userId": "anonymous", "realmName": "LdapRealm"},
    )
    change = by_address(run(make_ctx(), actual), "security.anonymous")
    assert change.payload.settings == {
        "enabled": True,
        "userId": "anonymous",
        "realmName": "LdapRealm",
    }


def test_server_without_path_routing_is_not_a_change() -> None:
    def old_server(state: RepoState) -> RepoState:
        settings = copy.deepcopy(state.settings)
        settings["docker"].pop("pathEnabled")
        return replace(state, settings=settings)

    actual = server(make_ctx())
    actual = replace(actual, repos={n: old_server(s) for n, s in actual.repos.items()})
    assert pending(run(make_ctx(), actual)) == {}


def test_stranded_cache_keeps_the_current_member_order() -> None:
    selection = Selection(
        active={"dockerhub": "cf-worker", "ghcr": "ghcr-direct"},
        order={"dockerhub": ["dockerhub", "daocloud"], "ghcr": ["ghcr-direct"]},
        stranded=frozenset({"dockerhub"}),
    )
    ctx = make_ctx(select="fastest", selection=selection)
    assert pending(run(ctx, server(make_ctx()))) == {}
    assert any("no healthy upstream" in n.message for n in ctx.notes)


def test_fastest_reorders_by_latency() -> None:
    selection = Selection(
        active={"dockerhub": "dockerhub", "ghcr": "ghcr-direct"},
        order={
            "dockerhub": ["dockerhub", "daocloud", "cf-worker", "hk-nginx"],
            "ghcr": ["ghcr-direct"],
        },
        reasons={"dockerhub": "dockerhub is fastest (80 ms)"},
    )
    ctx = make_ctx(select="fastest", selection=selection)
    change = by_address(run(ctx, server(make_ctx())), "repository.dockerhub")
    assert change.diffs[0].new[0] == "dockerhub-dockerhub"
    assert change.reason == "dockerhub is fastest (80 ms)"


def test_create_view_hides_the_password() -> None:
    changes = run(make_ctx(pw="proxy-pass"), server(None))
    change = by_address(changes, "repository.dockerhub-hk-nginx")
    assert "proxy-pass" not in repr(change.after)
    assert desired_mod.SECRET_FIELD in change.sensitive_fields

"""Plan renderers: Terraform-style text and masked terraform-show-like JSON (golden files)."""

from __future__ import annotations

import json

from provisioner import secrets
from provisioner.plan import Action, Change, FieldDiff, Note, Plan
from provisioner.render.plan_json import render_plan_json
from provisioner.render.plan_text import render_plan
from tests.golden import assert_golden

PLAN = Plan(
    changes=(
        Change(
            "nexus.hq.repository.dockerhub-cf-worker",
            Action.CREATE,
            "hq",
            "nexus_repository",
            after={
                "name": "dockerhub-cf-worker",
                "url": "https://hub.example.xyz",
                "auth": {"username": "puller", "password": "top-secret-pw"},
            },
            sensitive_fields=frozenset({"auth.password"}),
        ),
        Change(
            "nexus.hq.repository.dockerhub",
            Action.UPDATE,
            "hq",
            "nexus_group",
            reason="cf-worker down: connect timeout; switching to hk-nginx",
            diffs=(
                FieldDiff("members", ["a", "b"], ["b", "a"]),
                FieldDiff("auth.fingerprint", "x", "y", True),
            ),
            before={"members": ["a", "b"]},
            after={"members": ["b", "a"]},
        ),
        Change(
            "harbor.hb.project.dockerhub",
            Action.REPLACE,
            "hb",
            "harbor_project",
            reason="bound to endpoint 3, must be 5",
            diffs=(FieldDiff("registry_id", 3, 5),),
            before={"registry_id": 3},
            after={"registry_id": 5},
        ),
        Change(
            "nexus.hq.repository.old-proxy",
            Action.DELETE,
            "hq",
            "nexus_repository",
            before={"name": "old-proxy"},
        ),
        Change("registry.edge.dockerhub/config.yml", Action.NOOP, "edge", "file"),
    ),
    notes=(Note("hq", "upstream cf-worker is down: connect timeout", "warning"),),
)


def test_text_golden() -> None:
    assert_golden("plan/plan.txt", render_plan(PLAN))


def test_text_colour_only_when_asked() -> None:
    assert "\x1b[" not in render_plan(PLAN, color=False)
    assert "\x1b[32m" in render_plan(PLAN, color=True)


def test_json_golden_and_masked() -> None:
    text = render_plan_json(PLAN)
    assert_golden("plan/plan.json", text)
    data = json.loads(text)
    assert "top-secret-pw" not in text
    first = data["resource_changes"][0]["change"]
    assert first["actions"] == ["create"]
    assert first["after"]["auth"]["password"] == secrets.MASK
    assert first["after_sensitive"] == {"auth": {"password": True}}
    assert data["resource_changes"][2]["change"]["actions"] == ["delete", "create"]
    assert data["summary"] == {"add": 2, "change": 1, "destroy": 2, "changes": True}


def test_registered_secret_masked_even_in_unmarked_field() -> None:
    secrets.register("leaky-value-123")
    plan = Plan((Change("a.b", Action.CREATE, "t", "r", after={"note": "x leaky-value-123"}),))
    assert "leaky-value-123" not in render_plan(plan)
    assert "leaky-value-123" not in render_plan_json(plan)

"""Pure planning: field diffs over managed fields, and the create/update/no-op decision."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.plan import Action, Change, FieldDiff, Plan, diff_fields, update_or_noop


@pytest.mark.parametrize(
    ("desired", "actual", "sensitive", "expected"),
    [
        ({"a": 1}, {"a": 1, "id": 7, "status": "x"}, (), ()),
        ({"a": 1}, {"a": 2}, (), (FieldDiff("a", 2, 1),)),
        ({"a": 1}, {}, (), (FieldDiff("a", None, 1),)),
        ({"m": {"x": 1, "y": 2}}, {"m": {"x": 1, "y": 3, "z": 9}}, (), (FieldDiff("m.y", 3, 2),)),
        (
            {"members": ["a", "b"]},
            {"members": ["b", "a"]},
            (),
            (FieldDiff("members", ["b", "a"], ["a", "b"]),),
        ),
        ({"auth": {"password": "new"}}, {"auth": {"password": None}}, ("auth.password",), ()),
        (
            {"auth": {"password": "p", "fp": "f2"}},
            {"auth": {"fp": "f1"}},
            ("auth.password",),
            (FieldDiff("auth.fp", "f1", "f2"),),
        ),
        ({"m": {"x": 1}}, {"m": "not-a-map"}, (), (FieldDiff("m.x", None, 1),)),
    ],
    ids=[
        "extra-actual-ignored",
        "changed",
        "missing",
        "nested",
        "order-matters",
        "secret-not-compared",
        "fingerprint-detects-secret-change",
        "shape-mismatch",
    ],
)
def test_diff_fields(
    desired: dict[str, Any],
    actual: dict[str, Any],
    sensitive: tuple[str, ...],
    expected: tuple[FieldDiff, ...],
) -> None:
    assert diff_fields(desired, actual, sensitive) == expected


@pytest.mark.parametrize(
    ("actual", "action"),
    [
        (None, Action.CREATE),
        ({"url": "https://a"}, Action.NOOP),
        ({"url": "https://b"}, Action.UPDATE),
    ],
)
def test_update_or_noop(actual: dict[str, Any] | None, action: Action) -> None:
    change = update_or_noop(
        address="x.t.r",
        target="t",
        resource_type="r",
        desired={"url": "https://a"},
        actual=actual,
        depends_on=("x.t.dep",),
    )
    assert change.action is action
    if action is Action.UPDATE:
        assert change.diffs == (FieldDiff("url", "https://b", "https://a"),)
        assert change.before == {"url": "https://b"}
    if action is not Action.NOOP:
        assert change.depends_on == ("x.t.dep",)


def test_counts_and_summary() -> None:
    def c(action: Action) -> Change:
        return Change(f"a.{action.value}", action, "t", "r")

    plan = Plan(
        (c(Action.CREATE), c(Action.UPDATE), c(Action.REPLACE), c(Action.DELETE), c(Action.NOOP))
    )
    assert plan.counts() == (2, 1, 2)
    assert plan.summary() == "Plan: 2 to add, 1 to change, 2 to destroy."
    assert len(plan.pending) == 4
    assert Plan((c(Action.NOOP),)).summary() == "No changes. Every target matches the profile."

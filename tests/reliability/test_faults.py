"""The fault matrix (issue 7.1): every write of a full Nexus + Harbor + files apply, failed in
every way, ends in one error line or a safe retry, and one clean re-apply converges.

See :mod:`tests.reliability.faultmatrix` for what a scenario checks. The whole matrix runs here
(about 130 scenarios, a few minutes); ``python -m tests.reliability.figures`` prints it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.faultmatrix import (
    KINDS,
    SERVERS,
    Baseline,
    Outcome,
    Scenario,
    _check_faulted_run,
    baseline,
    compare,
    run_matrix,
)
from tests.reliability.lab import Run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    return baseline(tmp_path_factory.mktemp("baseline"))


def test_baseline_has_every_kind_of_write(base: Baseline) -> None:
    nexus, harbor = base.writes["nexus"], base.writes["harbor"]
    # Bootstrap (password, EULA), proxies, groups, realms, anonymous access on Nexus ...
    assert any("change-password" in w for w in nexus) and any("eula" in w for w in nexus)
    assert sum(w.endswith("/docker/proxy") for w in nexus) == 5
    assert sum(w.endswith("/docker/group") for w in nexus) == 2
    assert any(w.startswith("PUT ") and "realms" in w for w in nexus)
    # ... password, endpoints and projects on Harbor, and every generated file.
    assert any(w.startswith("PUT ") and "/password" in w for w in harbor)
    assert sum(w == "POST /api/v2.0/registries" for w in harbor) == 2
    assert sum(w == "POST /api/v2.0/projects" for w in harbor) == 2
    assert len(base.writes["files"]) >= 12
    assert "harbor.hq-harbor.project.dockerhub" in base.addresses


@pytest.mark.parametrize(("server", "kind"), [(s, k) for s in SERVERS for k in KINDS[s]])
def test_every_write_fails_cleanly_and_converges(base: Baseline, server: str, kind: str) -> None:
    outcomes = run_matrix(base.scenarios([server], [kind]), base, workers=3)
    assert len(outcomes) == len(base.writes[server])
    bad = [f"{o.scenario}: {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    assert bad == []


# -- the checks themselves can fail -------------------------------------------------------------
def _outcome(stderr: str, code: int = 1) -> Outcome:
    base = Baseline({}, ["nexus.hq.repository.hub"], {})
    outcome = Outcome(Scenario("nexus", 0, "500", "POST /x"))
    _check_faulted_run(Run(("apply",), code, "", stderr, 0.1), base, outcome)
    return outcome


@pytest.mark.parametrize(("stderr", "code", "ok"), [
    ("a: done\nError: nexus.hq.repository.hub: POST http://x -> 500: boom (1 of 2 ...)\n", 1, True),
    ("", 0, True),
    ("Error: POST http://x -> 500: boom\n", 1, False),  # names no change address
    ("Error: nexus.hq.repository.hub: a\nError: nexus.hq.repository.hub: b\n", 1, False),
    ("Error: nexus.hq.repository.hub: a\nmore after it\n", 1, False),
    ("Traceback (most recent call last):\n", 1, False),
    ("Error: nexus.hq.repository.hub: x\n", 2, False),
    ("", -1, False),  # hung
])
def test_the_run_check_can_fail(stderr: str, code: int, ok: bool) -> None:
    assert _outcome(stderr, code).ok is ok


def test_compare_names_missing_extra_and_changed() -> None:
    want = {"repos": {"a": {"url": "x"}, "b": {}}}
    have = {"repos": {"a": {"url": "y"}, "c": {}}}
    assert compare(want, have) == ["differs repos.a.url", "missing repos.b", "extra repos.c"]
    assert compare(want, want) == []


def test_lab_snapshot_sees_a_duplicate(tmp_path: Path) -> None:
    from tests.reliability.lab import harbor_state, lab

    with lab(tmp_path) as world:
        world.harbor.add_registry("provisioner-dockerhub", "https://a.example")
        world.harbor.add_registry("provisioner-dockerhub", "https://a.example")
        assert harbor_state(world.harbor)["duplicates"] == ["provisioner-dockerhub"]

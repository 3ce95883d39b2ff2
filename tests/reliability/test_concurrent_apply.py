"""Two applies of one profile at once (issue 7.5) end converged, with no duplicates.

The servers answer with 50 ms of latency, so both runs read before either writes and both
plan every create; the slower run then meets "already exists" (Nexus 400, Harbor 409) and must
read back and carry on. See :mod:`tests.reliability.concurrency`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.concurrency import race, races
from tests.reliability.faultmatrix import Baseline, baseline

pytestmark = pytest.mark.slow

# Each CLI run needs about half a second of CPU to start; on two cores three runs start one after
# another. A quarter of a second per request keeps every run planning (reading) until all have
# started, so the creates really race whatever the machine's load.
RACE_LATENCY = 0.25


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    return baseline(tmp_path_factory.mktemp("baseline"))


def test_two_applies_at_once_both_succeed_without_duplicates(base: Baseline) -> None:
    outcomes = races(base, rounds=3, latency=RACE_LATENCY)
    assert [o.problems for o in outcomes] == [[], [], []]
    assert all(o.conflicts >= 4 for o in outcomes)  # the race really happened every time
    assert all(run.returncode == 0 for o in outcomes for run in o.runs)


def test_three_applies_at_once(base: Baseline, tmp_path: Path) -> None:
    outcome = race(tmp_path, base, runs=3, latency=RACE_LATENCY)
    assert outcome.problems == []
    assert outcome.conflicts >= 8


def test_racing_on_fresh_instances_recovers_with_one_apply(base: Baseline, tmp_path: Path) -> None:
    """Both runs also bootstrap. Nexus copes (the loser finds the new password working); on
    Harbor the loser's old-password attempt can trip the login lock and fail a request of the
    other run with 401. A failed run says so in one line, and one more apply converges."""
    outcome = race(tmp_path, base, bootstrapped=False, recover=True)
    assert outcome.recovered is not None and outcome.recovered.returncode == 0
    assert outcome.state_problems == []

"""Selection from probe results: first-healthy, fastest (with slack), stranded; reasons and notes.

Pure: probe reports are built by hand, nothing touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from provisioner.failover import select, selection_for, selection_notes
from provisioner.probe.result import ProbeReport, ProbeResult
from provisioner.profile import parse_profile
from provisioner.profile.model import Profile
from provisioner.selection import Selection

IMAGE = "library/busybox:latest"


def _profile(select_mode: str = "first-healthy", upstreams: str = "a, b, c",
             probe: str = "") -> Profile:
    return parse_profile(
        "version: 1\n"
        "upstreams:\n"
        "  a: {kind: registry, url: http://127.0.0.1:1001}\n"
        "  b: {kind: registry, url: http://127.0.0.1:1002}\n"
        "  c: {kind: registry, url: http://127.0.0.1:1003}\n"
        "caches:\n"
        f"  hub: {{upstreams: [{upstreams}], select: {select_mode}}}\n"
        + probe,
        "t.yaml",
    )


def _report(**state: float | str) -> ProbeReport:
    """``a=0.05`` healthy with 50 ms latency; ``b="connection refused"`` down with that reason."""
    results = []
    for name, value in state.items():
        if isinstance(value, str):
            results.append(ProbeResult(name, f"http://{name}", IMAGE, False, error="connect",
                                       reason=value, step="ping", seconds=0.001))
        else:
            results.append(ProbeResult(name, f"http://{name}", IMAGE, True, seconds=value,
                                       digest="sha256:" + "0" * 64))
    return ProbeReport(tuple(results), 0.1, 5.0)


@dataclass(frozen=True)
class Case:
    name: str
    mode: str
    state: dict[str, float | str]
    active: str
    order: list[str]
    reason: str
    stranded: bool = False


CASES = [
    Case("first listed healthy", "first-healthy", {"a": 0.2, "b": 0.01, "c": 0.01}, "a",
         ["a", "b", "c"], "a is the first listed upstream and healthy (200 ms)"),
    Case("first down, switch", "first-healthy", {"a": "connect timeout", "b": 0.1, "c": 0.01}, "b",
         ["a", "b", "c"], "a down: connect timeout; switching to b"),
    Case("two down", "first-healthy", {"a": "connection refused", "b": "HTTP 500 on GET /v2/",
                                       "c": 0.3}, "c", ["a", "b", "c"],
         "a down: connection refused; b down: HTTP 500 on GET /v2/; switching to c"),
    Case("all down", "first-healthy", {"a": "connection refused", "b": "timed out after 5s",
                                       "c": "DNS lookup failed"}, "a", ["a", "b", "c"],
         "no healthy upstream (a: connection refused; b: timed out after 5s; c: DNS lookup "
         "failed); keeping the configured upstream", stranded=True),
    Case("fastest", "fastest", {"a": 0.3, "b": 0.1, "c": 0.2}, "b", ["b", "c", "a"],
         "b is the fastest healthy upstream (100 ms; a 300 ms, c 200 ms)"),
    Case("fastest with one down", "fastest", {"a": 0.3, "b": "connection refused", "c": 0.2}, "c",
         ["c", "a", "b"], "b down: connection refused; c is the fastest healthy upstream (200 ms; "
         "a 300 ms)"),
    Case("fastest all down", "fastest", {"a": "x", "b": "y", "c": "z"}, "a", ["a", "b", "c"],
         "no healthy upstream (a: x; b: y; c: z); keeping the configured upstream", stranded=True),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_select(case: Case) -> None:
    selection = select(_profile(case.mode), _report(**case.state))
    assert selection.active["hub"] == case.active
    assert selection.order["hub"] == case.order
    assert selection.reasons["hub"] == case.reason
    assert ("hub" in selection.stranded) is case.stranded
    assert selection.probed


def _previous(order: list[str]) -> Selection:
    return Selection({"hub": order[0]}, {"hub": order})


@pytest.mark.parametrize(
    ("state", "previous", "expected"),
    [
        # a is 20 ms slower than b: within the slack, so the previous order stays.
        ({"a": 0.12, "b": 0.10, "c": 0.5}, ["a", "b", "c"], ["a", "b", "c"]),
        # a is now 3x slower than b: switch.
        ({"a": 0.30, "b": 0.10, "c": 0.5}, ["a", "b", "c"], ["b", "a", "c"]),
        # c went down: a is still close to the fastest, so it stays; c goes last.
        ({"a": 0.12, "b": 0.10, "c": "refused"}, ["c", "a", "b"], ["a", "b", "c"]),
        # the previous active one went down: the fastest of the rest.
        ({"a": "refused", "b": 0.10, "c": 0.5}, ["a", "b", "c"], ["b", "c", "a"]),
        # c came back much faster: switch.
        ({"a": 0.12, "b": 0.10, "c": 0.01}, ["a", "b", "c"], ["c", "b", "a"]),
    ],
)
def test_fastest_keeps_a_close_previous_choice(state: dict[str, float | str], previous: list[str],
                                               expected: list[str]) -> None:
    selection = select(_profile("fastest"), _report(**state), _previous(previous))
    assert selection.order["hub"] == expected
    assert selection.active["hub"] == expected[0]
    if expected[0] == previous[0] and state[expected[0]] != min(
            v for v in state.values() if isinstance(v, float)):
        assert selection.reasons["hub"].startswith(f"staying on {expected[0]}, close enough")


def test_cache_not_probed_keeps_listed_order_without_reason() -> None:
    selection = select(_profile(), _report(a=0.1, b=0.1))  # c was not probed
    assert selection.active == {"hub": "a"}
    assert selection.order == {"hub": ["a", "b", "c"]}
    assert selection.reasons == {} and not selection.stranded


def test_health_is_per_upstream_across_probe_images() -> None:
    report = ProbeReport((
        ProbeResult("a", "http://a", IMAGE, True, seconds=0.1),
        ProbeResult("a", "http://a", "library/alpine:3", False, error="http",
                    reason="probe image library/alpine:3 not found", seconds=0.2),
    ), 0.2, 5.0)
    selection = select(_profile(upstreams="a"), report)
    assert selection.active["hub"] == "a" and not selection.stranded  # the cache asked busybox
    assert not selection.health["a"].healthy
    assert selection.health["a"].reason == "probe image library/alpine:3 not found"
    assert selection.health["a"].latency == 0.2


def test_notes() -> None:
    profile = _profile()
    switched = selection_notes(profile, select(profile, _report(a="connection refused", b=0.1,
                                                                c=0.1)))
    assert [(n.level, n.message) for n in switched] == [
        ("warning", "upstream a is down: connection refused"),
        ("info", "cache hub: a down: connection refused; switching to b"),
    ]
    stranded = selection_notes(profile, select(profile, _report(a="x", b="y", c="z")))
    assert [n.level for n in stranded] == ["warning"] * 4
    assert stranded[-1].message.startswith("cache hub: every upstream is down; targets keep")
    assert selection_notes(profile, select(profile, _report(a=0.1, b=0.1, c=0.1))) == ()


@pytest.mark.parametrize(("probe_flag", "profile_probe"), [
    (False, ""),
    (True, "probe: {enabled: false}\n"),
])
def test_selection_without_probing(probe_flag: bool, profile_probe: str) -> None:
    # The upstreams are on ports nothing listens on: probing would mark them down.
    selection, notes = selection_for(_profile(probe=profile_probe), probe=probe_flag)
    assert not selection.probed and notes == ()
    assert selection.active == {"hub": "a"}

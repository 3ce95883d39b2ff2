"""Hypothesis strategies and the outcome check shared by the profile fuzz test and the figures.

Every input must end as a :class:`~provisioner.profile.model.Profile` or a
:class:`~provisioner.errors.ProfileError` whose message is one line starting with
``<file>:<line>:`` (the line inside the file). Anything else (another exception, a multi-line
message, a line number outside the file, a hang) is a finding.

Four kinds of input, from least to most structured:

- ``raw_bytes``: arbitrary bytes written to a file and loaded with ``load_profile``;
- ``yamlish_text``: lines assembled from YAML and profile fragments (anchors, merges, tags,
  flow collections, ``${VAR}`` forms, tabs, odd unicode) with random indentation;
- ``random_structure``: random nested mappings and lists whose keys are mostly real profile
  field names, dumped as YAML;
- ``mutated_profile``: a valid profile using every target kind with a few random edits
  (a value replaced, a key dropped, a key renamed or added), dumped as YAML.
"""

from __future__ import annotations

import copy
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from provisioner import secrets
from provisioner.errors import ProfileError
from provisioner.profile.load import load_profile, parse_profile
from provisioner.profile.model import Profile

SOURCE = "fuzz.yaml"
HANG_SECONDS = 10  # a single load taking this long is reported as a hang (normal: milliseconds)
ENV = {
    "HK_PROXY_PASSWORD": "hk-proxy-pw-1234",
    "NEXUS_PASSWORD": "nexus-pw-5678",
    "HARBOR_PASSWORD": "Harbor-Pw-9012",
    "EMPTY": "",
    "PORT": "5000",
    "URL": "https://mirror.example.com",
}
# Line breaks as PyYAML's reader counts them (its marks are the line numbers we report).
_BREAKS = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_LOCATION = re.compile(r"^(?P<file>.+?):(?P<line>\d+): ")

SEED: dict[str, Any] = {
    "version": 1,
    "upstreams": {
        "cf-worker": {"kind": "cloudflare-worker", "url": "https://hub.example.xyz",
                      "deploy": {"kind": "cloudflare-worker", "output": "out/worker",
                                 "allow": ["library/"]}},
        "hk-nginx": {"kind": "nginx-proxy", "url": "https://mirror.example.com",
                     "username": "puller", "password": "${HK_PROXY_PASSWORD}",
                     "deploy": {"kind": "nginx", "output": "out/nginx",
                                "server_name": "mirror.example.com"}},
        "daocloud": {"kind": "mirror", "url": "https://docker.m.daocloud.io"},
        "dockerhub": {"kind": "docker-hub"},
        "ghcr-direct": {"kind": "registry", "url": "https://ghcr.io", "layout": "plain",
                        "ca_file": "/etc/ssl/ca.pem"},
    },
    "caches": {
        "dockerhub": {"mirrors": "docker.io", "select": "first-healthy",
                      "upstreams": ["cf-worker", "hk-nginx", "daocloud", "dockerhub"]},
        "ghcr": {"mirrors": "ghcr.io", "upstreams": ["ghcr-direct"], "select": "fastest",
                 "probe_image": "library/busybox:latest"},
    },
    "targets": {
        "edge": {"kind": "registry", "caches": ["dockerhub", "ghcr"], "output": "out/edge",
                 "listen": {"dockerhub": "127.0.0.1:5000", "ghcr": "127.0.0.1:5001"},
                 "ttl": "168h", "secrets": "env-file"},
        "hq-nexus": {"kind": "nexus", "url": "http://nexus.internal:8081", "username": "admin",
                     "password": "${NEXUS_PASSWORD}", "anonymous_pull": True, "timeout": "5s",
                     "ports": {"dockerhub": 8082},
                     "bootstrap": {"initial_password_file": "/nexus-data/admin.password",
                                   "accept_eula": True}},
        "hq-harbor": {"kind": "harbor", "url": "https://harbor.internal", "username": "admin",
                      "password": "${HARBOR_PASSWORD}", "public": True, "insecure": True,
                      "proxy_speed_kb": -1, "bootstrap": {"initial_password": "Harbor12345"}},
    },
    "clients": {"output": "out/clients", "formats": ["docker", "containerd", "podman", "k3s"]},
    "probe": {"enabled": False, "timeout": "3s"},
}

FIELD_NAMES = sorted({
    "version", "upstreams", "caches", "targets", "clients", "probe", "kind", "url", "username",
    "password", "layout", "deploy", "mirrors", "select", "probe_image", "output", "listen",
    "storage", "image", "ttl", "http_secret", "secrets", "anonymous_pull", "blob_store", "ports",
    "path_routing", "bootstrap", "initial_password", "initial_password_file", "accept_eula",
    "public", "proxy_speed_kb", "max_upstream_conn", "timeout", "insecure", "ca_file", "formats",
    "include_upstreams", "enabled", "server_name", "tls_certificate", "tls_key", "registry",
    "auth", "resolver", "allow", "compatibility_date", "name",
})
NAMES = ["hub", "dockerhub", "edge", "cf-worker", "hq-nexus", "hq-harbor", "ghcr", "clients",
         "upstreams", "Bad_Name", "-x", "a" * 70]
KINDS = ["mirror", "docker-hub", "registry", "nginx-proxy", "cloudflare-worker", "nexus",
         "harbor", "nginx", "Mirror", ""]
WEIRD_TEXT = st.sampled_from([
    "", " ", "~", "null", "true", "no", "0x1F", "1e400", ".nan", "-.inf", "2025-01-01",
    "2025-13-45", "12:30:00", "0o17", "${NEXUS_PASSWORD}", "${UNSET_VAR}", "${EMPTY:?need it}",
    "${EMPTY:-fallback}", "${", "$$", "${1BAD}", "${A:-${B:-c}}", "https://x/", "ftp://x",
    "http://[::1", "http://h:99999", "https://h?q=1", "127.0.0.1:0", "[::1]:5000", "5000",
    "10s", "1m30s", "0s", "250ms", "9999h", "a\nb", "a\tb", "\u2028", "\x85", "\ufeff",
    "\U0001f433", "é", "\x00", "\x7f", "'", '"', "\\", "a: b", "- x", "&a", "*a", "!!str x",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), WEIRD_TEXT, st.sampled_from(KINDS),
    st.sampled_from(NAMES), st.text(max_size=30),
)
KEYS = st.one_of(st.sampled_from(FIELD_NAMES), st.sampled_from(NAMES), st.text(max_size=12),
                 st.integers(-3, 3), st.booleans(), st.none())
FRAGMENTS = [
    "version: 1", "version: 2", "version: true", "upstreams:", "caches:", "targets:", "clients:",
    "probe:", "  hub:", "    kind: mirror", "    kind: docker-hub", "    url: https://m.example",
    "    upstreams: [hub]", "    upstreams: [hub, hub]", "  edge:", "    kind: registry",
    "    output: out", "    listen: 127.0.0.1:5000", "    kind: nexus", "    kind: harbor",
    "    password: ${NEXUS_PASSWORD}", "    password: ${UNSET}", "    username: admin",
    "    timeout: 1s", "  output: out/clients", "  formats: [docker, podman]",
    "base: &base {kind: mirror, url: 'https://a.example'}", "  hub2: *base", "  <<: *base",
    "  <<: [*base, *base]", "<<: 3", "? [a, b]", ": x", "- a", "- [a, {b: c}]", "{a: 1, a: 2}",
    "x: !!binary aGVsbG8=", "x: !!python/object:os.system ls", "x: !custom 1", "%YAML 1.1",
    "---", "...", "# comment", "\tkind: mirror", "x: 'unterminated", 'x: "bad \\q escape"',
    "x: |", "  block", "x: >-", "a: &x [*x]", "*undefined", "&", "!", "|", ">", "@", "`",
    "x: 2025-01-01", "x: 1_000", "x: 0b101", "x: .inf", "x: ~", "'k': v", "? k", "  - - - -",
]
FRAGMENT = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=20))


@st.composite
def yamlish_text(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.tuples(st.integers(0, 8), FRAGMENT), max_size=25))
    joiner = draw(st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"]))
    return joiner.join(" " * indent + fragment for indent, fragment in lines)


def _values(depth: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                st.dictionaries(KEYS, inner, max_size=4)),
        max_leaves=depth,
    )


@st.composite
def random_structure(draw: st.DrawFn) -> str:
    body = draw(st.dictionaries(KEYS, _values(12), max_size=6))
    if draw(st.booleans()):
        body = {"version": 1, **body}
    return _dump(draw, body)


@st.composite
def mutated_profile(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(SEED)
    for _ in range(draw(st.integers(1, 4))):
        path = _random_path(draw, doc)
        parent, key = _parent(doc, path)
        action = draw(st.sampled_from(["replace", "transplant", "transplant", "drop", "rename",
                                       "add", "wrap"]))
        if parent is None:  # the root itself
            if action == "replace":
                doc = draw(_values(6))
            continue
        if action == "replace":
            parent[key] = draw(_values(6))
        elif action == "transplant":  # another part of the profile: often valid, often odd
            donor_parent, donor_key = _parent(doc, _random_path(draw, doc))
            donor = doc if donor_parent is None else donor_parent[donor_key]
            parent[key] = copy.deepcopy(donor)
        elif action == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"x": parent[key]}
        elif action == "drop" and isinstance(parent, dict):
            del parent[key]
        elif action == "drop" and isinstance(parent, list):
            parent.pop(key)
        elif action == "rename" and isinstance(parent, dict):
            new_key = draw(KEYS)
            if new_key not in parent:
                parent[new_key] = parent.pop(key)
        elif action == "add" and isinstance(parent, dict):
            parent[draw(KEYS)] = draw(_values(4))
        elif action == "add" and isinstance(parent, list):
            parent.append(draw(_values(2)))
    return _dump(draw, doc)


def raw_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        yamlish_text().map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.builds(lambda t, b: t.encode("utf-8", "surrogatepass") + b,
                  mutated_profile(), st.binary(max_size=8)),
    )


def _random_path(draw: st.DrawFn, doc: Any) -> tuple[Any, ...]:
    path: list[Any] = []
    node = doc
    while isinstance(node, dict | list) and node and draw(st.integers(0, 3)) > 0:
        key = draw(st.sampled_from(list(node) if isinstance(node, dict) else range(len(node))))
        path.append(key)
        node = node[key]
    return tuple(path)


def _parent(doc: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    if not path:
        return None, None
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node, path[-1]


def _dump(draw: st.DrawFn, value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=draw(st.sampled_from([False, True, None])),
                          allow_unicode=draw(st.booleans()), sort_keys=draw(st.booleans()))


# -- the outcome check --------------------------------------------------------------------------
class Finding(AssertionError):
    """An outcome other than a Profile or a well-formed one-line ProfileError."""


class Hang(Finding):
    pass


@contextmanager
def watchdog(seconds: int = HANG_SECONDS) -> Iterator[None]:
    """Raise :class:`Hang` when the block runs longer than ``seconds`` (main thread only)."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"no outcome within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def check_text(text: str, source: str = SOURCE) -> str:
    """Load ``text``; return ``"profile"`` or ``"error"``, raise :class:`Finding` otherwise."""
    secrets.clear()  # the registry would otherwise grow with every example
    try:
        with watchdog():
            result = parse_profile(text, source, ENV)
    except ProfileError as exc:
        check_message(str(exc), source, _line_count(text))
        return "error"
    except Hang:
        raise
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzzer hunts
        raise Finding(f"{type(exc).__name__}: {exc!r} for input {text!r}") from exc
    if not isinstance(result, Profile):
        raise Finding(f"returned {type(result).__name__}, not a Profile")
    return "profile"


def check_file(data: bytes, path: Path) -> str:
    """Like :func:`check_text` for raw bytes in a file, through ``load_profile``."""
    path.write_bytes(data)
    secrets.clear()
    try:
        with watchdog():
            result = load_profile(path, ENV)
    except ProfileError as exc:
        text = data.decode("utf-8", "replace")
        check_message(str(exc), str(path), _line_count(text))
        return "error"
    except Hang:
        raise
    except Exception as exc:  # noqa: BLE001
        raise Finding(f"{type(exc).__name__}: {exc!r} for input {data!r}") from exc
    if not isinstance(result, Profile):
        raise Finding(f"returned {type(result).__name__}, not a Profile")
    return "profile"


def check_message(message: str, source: str, lines: int) -> None:
    if len(message.splitlines()) != 1 or message != message.strip():
        raise Finding(f"not one line: {message!r}")
    match = _LOCATION.match(message)
    if match is None or match["file"] != source:
        raise Finding(f"does not start with '{source}:<line>: ': {message!r}")
    if not 1 <= int(match["line"]) <= lines:
        raise Finding(f"line {match['line']} outside the file's {lines} lines: {message!r}")


def _line_count(text: str) -> int:
    return len(_BREAKS.split(text))


def timed(fn: Any, *args: Any) -> tuple[str, float]:
    start = time.perf_counter()
    outcome = fn(*args)
    return outcome, time.perf_counter() - start


# -- a counting runner (the figures script) -----------------------------------------------------
STRATEGIES = {
    "yaml-ish text": yamlish_text,
    "random structures": random_structure,
    "mutated full profiles": mutated_profile,
    "raw bytes (files)": raw_bytes,
}


def run(name: str, examples: int, workdir: Path, seed: int = 0) -> dict[str, Any]:
    """Run ``examples`` of one strategy; count outcomes and keep findings instead of stopping."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed

    counts: dict[str, Any] = {"examples": 0, "profile": 0, "error": 0, "findings": [],
                              "hangs": 0, "slowest": 0.0}
    strategy = STRATEGIES[name]()

    @fixed_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(value: Any) -> None:
        counts["examples"] += 1
        start = time.perf_counter()
        try:
            if isinstance(value, bytes):
                outcome = check_file(value, workdir / "profile.yaml")
            else:
                outcome = check_text(value)
            counts[outcome] += 1
        except Hang as exc:
            counts["hangs"] += 1
            counts["findings"].append(str(exc))
        except Finding as exc:
            counts["findings"].append(str(exc))
        counts["slowest"] = max(counts["slowest"], time.perf_counter() - start)

    one()
    return counts

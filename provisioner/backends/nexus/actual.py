"""Read what a Nexus target holds, in as few requests as the server allows.

One ``GET /v1/repositorySettings`` returns every repository with its full per-format settings,
so a no-op plan costs the same number of requests for 1 or 50 caches:

- ``GET /v1/repositorySettings`` (all repositories, full settings);
- ``GET /v1/blobstores`` only when the profile names a blob store;
- ``GET /v1/security/realms/active`` and ``GET /v1/security/anonymous`` only with
  ``anonymous_pull: true``.

A per-repository ``GET /v1/repositories/docker/<type>/<name>`` is sent only for a Docker
repository the settings list shows without the blocks the plan compares, and for every
relevant repository on a server without ``/v1/repositorySettings`` (then the name list
``GET /v1/repositories`` comes first).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from provisioner.backends import DEFAULT_PARALLELISM
from provisioner.backends.nexus.client import NexusClient
from provisioner.backends.nexus.desired import NexusDesired

# The blocks the plan compares, per Docker repository type.
NEEDED = {
    "proxy": ("docker", "proxy", "httpClient", "negativeCache", "dockerProxy"),
    "group": ("docker", "group"),
}


@dataclass(frozen=True)
class RepoState:
    """One repository as found: ``format`` as Nexus reports it (``docker``, ``maven2``)."""

    name: str
    format: str
    type: str
    settings: dict[str, Any]

    @property
    def is_docker(self) -> bool:
        return self.format == "docker"


@dataclass(frozen=True)
class NexusActual:
    """What the server holds. ``None`` means "not read" (the profile does not manage it)."""

    repos: dict[str, RepoState]
    blobstores: frozenset[str] | None = None
    realms: tuple[str, ...] | None = None
    anonymous: dict[str, Any] | None = None

    def find(self, name: str) -> RepoState | None:
        """The repository named ``name`` ignoring case (Nexus names are unique ignoring case)."""
        if name in self.repos:
            return self.repos[name]
        lower = name.lower()
        return next((r for n, r in self.repos.items() if n.lower() == lower), None)


def read(
    client: NexusClient, desired: NexusDesired, parallelism: int = DEFAULT_PARALLELISM
) -> NexusActual:
    """The reads are independent, so they go out together (one round trip, not up to four);
    at ``parallelism`` 1 they go one after another."""
    reads: dict[str, Callable[[], Any]] = {
        "repos": lambda: read_repositories(client, desired, parallelism)
    }
    if desired.create_blob_store:
        reads["blobstores"] = lambda: frozenset(str(b.get("name")) for b in client.blobstores())
    if desired.anonymous_pull:
        reads["realms"] = lambda: tuple(client.active_realms())
        reads["anonymous"] = client.anonymous
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(reads)))) as pool:
        futures = {name: pool.submit(call) for name, call in reads.items()}
        got = {name: future.result() for name, future in futures.items()}
    return NexusActual(got["repos"], got.get("blobstores"), got.get("realms"), got.get("anonymous"))


def read_repositories(
    client: NexusClient, desired: NexusDesired, parallelism: int = DEFAULT_PARALLELISM
) -> dict[str, RepoState]:
    """Every repository the plan may look at, by exact name.

    That is every repository of a desired name (any format: a clash must be seen) and every
    Docker repository (a marked proxy the profile dropped is a prune candidate). The
    per-repository GETs, when needed, run ``parallelism`` at a time.
    """
    wanted = {r.name.lower() for r in desired.repos}
    settings = client.repository_settings()
    if settings is None:
        # No /v1/repositorySettings: the name list, then one GET per Docker repository that is
        # desired or may carry the marker (a proxy).
        found = [s for s in map(_state, client.repositories()) if s is not None]
        needs = [
            s
            for s in found
            if s.is_docker and s.type in NEEDED and (s.name.lower() in wanted or s.type == "proxy")
        ]
    else:
        found = [s for s in map(_state, settings) if s is not None]
        needs = [s for s in found if s.is_docker and s.type in NEEDED and _incomplete(s)]
    full = _read_full(client, needs, parallelism)
    repos: dict[str, RepoState] = {}
    for state in found:
        if state.name in full:
            settings_of = full[state.name]
            if settings_of is None:
                continue  # deleted between the two reads
            state = RepoState(state.name, state.format, state.type, settings_of)
        repos[state.name] = state
    return repos


def _read_full(
    client: NexusClient, states: list[RepoState], parallelism: int
) -> dict[str, dict[str, Any] | None]:
    """The full settings of each of ``states`` (None: gone), fetched concurrently."""
    if not states:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(parallelism, len(states)))) as pool:
        answers = pool.map(lambda s: client.docker_repository(s.type, s.name), states)
        return {s.name: answer for s, answer in zip(states, answers, strict=True)}


def _state(item: dict[str, Any]) -> RepoState | None:
    name, fmt, rtype = item.get("name"), item.get("format"), item.get("type")
    if not isinstance(name, str) or not name:
        return None
    return RepoState(name, str(fmt or "unknown"), str(rtype or "unknown"), item)


def _incomplete(state: RepoState) -> bool:
    return any(not isinstance(state.settings.get(key), dict) for key in NEEDED[state.type])

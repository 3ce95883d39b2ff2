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

from dataclasses import dataclass
from typing import Any

from provisioner.backends.nexus.client import NexusClient
from provisioner.backends.nexus.desired import NexusDesired

# The blocks the plan compares, per Docker repository type.
NEEDED = {"proxy": ("docker", "proxy", "httpClient", "negativeCache", "dockerProxy"),
          "group": ("docker", "group")}


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


def read(client: NexusClient, desired: NexusDesired) -> NexusActual:
    repos = read_repositories(client, desired)
    blobstores = None
    if desired.create_blob_store:
        blobstores = frozenset(str(b.get("name")) for b in client.blobstores())
    realms = anonymous = None
    if desired.anonymous_pull:
        realms = tuple(client.active_realms())
        anonymous = client.anonymous()
    return NexusActual(repos, blobstores, realms, anonymous)


def read_repositories(client: NexusClient, desired: NexusDesired) -> dict[str, RepoState]:
    """Every repository the plan may look at, by exact name.

    That is every repository of a desired name (any format: a clash must be seen) and every
    Docker repository (a marked proxy the profile dropped is a prune candidate).
    """
    wanted = {r.name.lower() for r in desired.repos}
    settings = client.repository_settings()
    if settings is None:
        return _read_one_by_one(client, wanted)
    repos: dict[str, RepoState] = {}
    for item in settings:
        state = _state(item)
        if state is None:
            continue
        if state.is_docker and state.type in NEEDED and _incomplete(state):
            full = client.docker_repository(state.type, state.name)
            if full is None:
                continue  # deleted between the two reads
            state = RepoState(state.name, state.format, state.type, full)
        repos[state.name] = state
    return repos


def _read_one_by_one(client: NexusClient, wanted: set[str]) -> dict[str, RepoState]:
    """Servers without ``/v1/repositorySettings``: the name list, then one GET per Docker
    repository that is desired or may carry the marker (a proxy)."""
    repos: dict[str, RepoState] = {}
    for item in client.repositories():
        state = _state(item)
        if state is None:
            continue
        relevant = state.name.lower() in wanted or (state.is_docker and state.type == "proxy")
        if state.is_docker and state.type in NEEDED and relevant:
            full = client.docker_repository(state.type, state.name)
            if full is None:
                continue
            state = RepoState(state.name, state.format, state.type, full)
        repos[state.name] = state
    return repos


def _state(item: dict[str, Any]) -> RepoState | None:
    name, fmt, rtype = item.get("name"), item.get("format"), item.get("type")
    if not isinstance(name, str) or not name:
        return None
    return RepoState(name, str(fmt or "unknown"), str(rtype or "unknown"), item)


def _incomplete(state: RepoState) -> bool:
    return any(not isinstance(state.settings.get(key), dict) for key in NEEDED[state.type])

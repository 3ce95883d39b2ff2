"""Reading a Nexus target: which requests, how the answers combine, at any parallelism."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from provisioner.backends.nexus.actual import read
from provisioner.backends.nexus.client import NexusClient
from provisioner.backends.nexus.desired import DesiredRepo, NexusDesired

BASE = "http://nexus.test:8081"
API = f"{BASE}/service/rest"
PROXY = {"name": "hub-a", "format": "docker", "type": "proxy", "online": True,
         "docker": {}, "proxy": {}, "httpClient": {}, "negativeCache": {}, "dockerProxy": {}}
GROUP = {"name": "hub", "format": "docker", "type": "group", "online": True,
         "docker": {}, "group": {"memberNames": ["hub-a"]}}
MAVEN = {"name": "central", "format": "maven2", "type": "proxy"}


def desired(anonymous: bool = True, blob: bool = False) -> NexusDesired:
    repos = (DesiredRepo("hub-a", "proxy", "hub", {}), DesiredRepo("hub", "group", "hub", {}))
    return NexusDesired("default", blob, repos, anonymous)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.mark.parametrize("parallelism", [1, 8])
def test_every_read_once_and_combined(mocked: responses.RequestsMock, parallelism: int) -> None:
    mocked.get(f"{API}/v1/repositorySettings", json=[PROXY, GROUP, MAVEN])
    mocked.get(f"{API}/v1/blobstores", json=[{"name": "default"}, {"name": "docker"}])
    mocked.get(f"{API}/v1/security/realms/active", json=["NexusAuthenticatingRealm"])
    mocked.get(f"{API}/v1/security/anonymous", json={"enabled": False})
    client = NexusClient(BASE, auth=("admin", "pw"))
    actual = read(client, desired(blob=True), parallelism)
    assert sorted(actual.repos) == ["central", "hub", "hub-a"]
    assert actual.blobstores == frozenset({"default", "docker"})
    assert actual.realms == ("NexusAuthenticatingRealm",)
    assert actual.anonymous == {"enabled": False}
    assert len(mocked.calls) == 4


def test_only_the_reads_the_profile_needs(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{API}/v1/repositorySettings", json=[])
    actual = read(NexusClient(BASE, auth=("admin", "pw")), desired(anonymous=False))
    assert (actual.repos, actual.blobstores, actual.realms, actual.anonymous) == ({}, None,
                                                                                 None, None)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize("parallelism", [1, 8])
def test_incomplete_settings_are_read_one_by_one(mocked: responses.RequestsMock,
                                                 parallelism: int) -> None:
    full = {**PROXY, "proxy": {"remoteUrl": "https://a.test"}}
    mocked.get(f"{API}/v1/repositorySettings",
               json=[{"name": "hub-a", "format": "docker", "type": "proxy"},
                     {"name": "gone", "format": "docker", "type": "proxy"}, GROUP])
    mocked.get(f"{API}/v1/repositories/docker/proxy/hub-a", json=full)
    mocked.get(f"{API}/v1/repositories/docker/proxy/gone", status=404)
    actual = read(NexusClient(BASE, auth=("admin", "pw")), desired(anonymous=False), parallelism)
    assert sorted(actual.repos) == ["hub", "hub-a"]  # "gone" was deleted between the reads
    assert actual.repos["hub-a"].settings == full


def test_without_repository_settings_relevant_docker_repositories_are_read(
    mocked: responses.RequestsMock,
) -> None:
    mocked.get(f"{API}/v1/repositorySettings", status=404)
    mocked.get(f"{API}/v1/repositories", json=[
        {"name": "hub-a", "format": "docker", "type": "proxy"},
        {"name": "hub", "format": "docker", "type": "group"},
        {"name": "other-group", "format": "docker", "type": "group"},  # not ours, not a proxy
        MAVEN,
    ])
    mocked.get(f"{API}/v1/repositories/docker/proxy/hub-a", json=PROXY)
    mocked.get(f"{API}/v1/repositories/docker/group/hub", json=GROUP)
    actual = read(NexusClient(BASE, auth=("admin", "pw")), desired(anonymous=False))
    assert actual.repos["hub-a"].settings == PROXY
    assert actual.repos["hub"].settings == GROUP
    assert actual.repos["other-group"].settings == {"name": "other-group", "format": "docker",
                                                    "type": "group"}
    assert len(mocked.calls) == 4

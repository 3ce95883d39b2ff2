"""The shared Session: connection pool size, proxy environment read once per server, TLS warning."""

from __future__ import annotations

import warnings

import pytest
import requests
from urllib3.exceptions import InsecureRequestWarning

from provisioner.http import POOL_SIZE, HttpClient, Tls, make_session


def test_the_pool_keeps_as_many_connections_as_the_widest_parallelism() -> None:
    adapter = make_session().get_adapter("https://harbor.test")
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter._pool_maxsize == POOL_SIZE >= 64  # the CLI's --parallelism goes up to 64


def test_proxy_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "nexus.internal")
    session = make_session()
    far = session.merge_environment_settings("https://harbor.test/api", {}, None, True, None)
    near = session.merge_environment_settings("https://nexus.internal/x", {}, None, True, None)
    assert far["proxies"].get("https") == "http://proxy.test:3128"
    assert "https" not in near["proxies"]


def test_the_environment_is_read_once_per_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    session = make_session()
    first = session.merge_environment_settings("https://harbor.test/a", {}, None, True, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://other.test:8080")
    again = session.merge_environment_settings("https://harbor.test/b?page=2", {}, None, True,
                                               None)
    assert again == first
    again["proxies"]["https"] = "changed"  # a caller mutating its copy changes nothing kept
    assert session.merge_environment_settings("https://harbor.test/c", {}, None, True,
                                              None) == first
    other = session.merge_environment_settings("https://nexus.test/", {}, None, True, None)
    assert other["proxies"]["https"] == "http://other.test:8080"


def test_a_ca_bundle_from_the_environment_still_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/corp.pem")
    session = make_session()
    assert session.merge_environment_settings("https://h.test/", {}, None, True,
                                              None)["verify"] == "/etc/ssl/corp.pem"
    assert session.merge_environment_settings("https://h.test/", {}, None, "/ca.pem",
                                              None)["verify"] == "/ca.pem"


def test_an_insecure_client_silences_urllib3s_warning() -> None:
    with warnings.catch_warnings():
        warnings.resetwarnings()
        HttpClient("https://harbor.test", tls=Tls(insecure=True), name="harbor")
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("unverified", InsecureRequestWarning, stacklevel=1)
        assert seen == []

"""Shared test set-up: a clean environment and a fresh secret registry for every test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner import secrets

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy or CA variables from the developer's shell leak into a test (as httpx does)."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "NO_COLOR",
        "PROVISIONER_AUTO_APPROVE",
    ):
        monkeypatch.delenv(name, raising=False)
    secrets.clear()
    yield
    secrets.clear()


def cli_command(*args: str) -> list[str]:
    """The argv that runs the CLI in a subprocess with this interpreter."""
    return [sys.executable, "-m", "provisioner.cli", *args]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.endswith("_PROXY") and not k.endswith("_proxy")
    }
    env.update(extra)
    return env

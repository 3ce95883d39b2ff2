"""Locate the external programs the end-to-end tests run, and skip or fail when one is missing.

Locally a missing tool skips the test with the reason and the command that installs it. Under CI
(``CI=true``) the same situation fails the test: a CI run that silently skipped every end-to-end
test would look green while proving nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# Where each tool may live besides $PATH. nginx sits in /usr/sbin, which a non-root $PATH lacks;
# workerd comes from npm into the repository's node_modules (package.json pins its version).
_EXTRA_LOCATIONS: dict[str, tuple[Path, ...]] = {
    "docker-registry": (Path("/usr/bin/docker-registry"),),
    "skopeo": (Path("/usr/bin/skopeo"),),
    "nginx": (Path("/usr/sbin/nginx"),),
    "workerd": (REPO_ROOT / "node_modules" / ".bin" / "workerd",),
}

_HOW_TO_INSTALL = {
    "docker-registry": "apt-get install docker-registry",
    "skopeo": "apt-get install skopeo",
    "nginx": "apt-get install nginx",
    "workerd": "npm ci (in the repository root)",
}


def in_ci() -> bool:
    """True when running under CI, where missing tools are failures rather than skips."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def find(binary: str) -> str | None:
    """Absolute path of ``binary`` or None. workerd prefers the repo's pinned node_modules copy."""
    candidates = list(_EXTRA_LOCATIONS.get(binary, ()))
    if binary == "workerd":
        # The pinned copy first: a different workerd on $PATH may reject our compatibilityDate.
        found = next((c for c in candidates if _executable(c)), None)
        return str(found) if found else shutil.which(binary)
    on_path = shutil.which(binary)
    if on_path:
        return on_path
    found = next((c for c in candidates if _executable(c)), None)
    return str(found) if found else None


def require(binary: str) -> str:
    """Return the path of ``binary``; skip the calling test if it is missing (fail under CI).

    Call it at the top of a test or fixture. The reason names the tool and how to install it;
    ``.ci/install-deps.sh`` installs all of them.
    """
    path = find(binary)
    if path is not None:
        return path
    how = _HOW_TO_INSTALL.get(binary, "install it")
    reason = f"{binary} not found (install: {how}, or run .ci/install-deps.sh)"
    if in_ci():
        pytest.fail(f"CI=true and a required tool is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)

"""Push, copy and inspect images with skopeo, isolated from the user's container configuration.

Every call gets a private ``--authfile``, ``registries.conf``, signature policy and ``$HOME``, so
credentials or mirrors configured on the developer's machine (``~/.docker/config.json``,
``~/.config/containers/registries.conf``) can neither help nor break a test. TLS verification is
off for ``docker://`` references, because every registry the tests run is plain HTTP on loopback.

References without a transport are taken as ``docker://``: ``copy("127.0.0.1:5000/library/hello:1",
"dir:/tmp/out")``. Failures raise :class:`SkopeoError` carrying skopeo's stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .tools import require

TRANSPORTS = ("docker://", "dir:", "oci:", "oci-archive:", "docker-archive:", "containers-storage:")
DEFAULT_TIMEOUT = 60.0


class SkopeoError(RuntimeError):
    """skopeo exited non-zero; ``stderr`` holds what it said."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        super().__init__(f"skopeo failed (exit {returncode}): {' '.join(argv)}\n{stderr.strip()}")


def transport_ref(ref: str) -> str:
    """``ref`` with ``docker://`` added when it names no transport."""
    return ref if ref.startswith(TRANSPORTS) else f"docker://{ref}"


class Skopeo:
    """skopeo with its own config directory (``workdir``); see the module docstring.

    ``registries_conf`` is the text of a registries.conf (v2) to use instead of an empty one, for
    tests of client-side mirror lists.
    """

    def __init__(
        self, workdir: Path | str | None = None, registries_conf: str | None = None
    ) -> None:
        self.binary = require("skopeo")
        self.workdir = (
            Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="provisioner-skopeo-"))
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.home = self.workdir / "home"
        self.home.mkdir(exist_ok=True)
        self.authfile = self.workdir / "auth.json"
        if not self.authfile.exists():
            self.authfile.write_text('{"auths": {}}\n')
        self.registries_conf = self.workdir / "registries.conf"
        self.registries_conf.write_text(registries_conf or "unqualified-search-registries = []\n")
        self.policy = self.workdir / "policy.json"
        # The system policy may be missing or strict; images built by the tests are unsigned.
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # containers/image also reads per-user files under $HOME and $XDG_*; point them at an
        # empty private home. REGISTRY_AUTH_FILE is the env twin of --authfile.
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_RUNTIME_DIR=str(self.home / "run"),
            REGISTRY_AUTH_FILE=str(self.authfile),
            CONTAINERS_REGISTRIES_CONF=str(self.registries_conf),
        )
        env.pop("DOCKER_CONFIG", None)
        return env

    def run(self, *args: str, timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``skopeo <global options> <args>``; raise SkopeoError on a non-zero exit."""
        for sub in (self.home / "run", self.workdir / "registries.d", self.workdir / "tmp"):
            sub.mkdir(exist_ok=True, mode=0o700)
        argv = [
            self.binary,
            # Hidden but supported flag; the env twin is only honoured by newer releases.
            "--registries-conf",
            str(self.registries_conf),
            "--registries.d",
            str(self.workdir / "registries.d"),
            "--policy",
            str(self.policy),
            "--tmpdir",
            str(self.workdir / "tmp"),
            *args,
        ]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=self._env(),
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
            raise SkopeoError(argv, -1, f"timed out after {timeout}s\n{stderr}") from exc
        if done.returncode != 0:
            raise SkopeoError(argv, done.returncode, done.stderr)
        return done

    def copy(
        self,
        src: str,
        dest: str,
        *,
        src_creds: str | None = None,
        dest_creds: str | None = None,
        extra: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """``skopeo copy src dest``; ``*_creds`` are ``user:password`` for the docker side."""
        src, dest = transport_ref(src), transport_ref(dest)
        args = ["copy", "--authfile", str(self.authfile)]
        if src.startswith("docker://"):
            args.append("--src-tls-verify=false")
            if src_creds:
                args += ["--src-creds", src_creds]
        if dest.startswith("docker://"):
            args.append("--dest-tls-verify=false")
            if dest_creds:
                args += ["--dest-creds", dest_creds]
        self.run(*args, *extra, src, dest, timeout=timeout)

    def push(
        self, layout_dir: Path | str, ref: str, dest: str, *, dest_creds: str | None = None
    ) -> None:
        """Push the image tagged ``ref`` in the OCI layout ``layout_dir`` to ``dest``."""
        self.copy(f"oci:{Path(layout_dir)}:{ref}", dest, dest_creds=dest_creds)

    def inspect(self, ref: str, *, creds: str | None = None, raw: bool = False) -> str:
        """``skopeo inspect`` output (JSON text; with ``raw`` the manifest as served)."""
        ref = transport_ref(ref)
        args = ["inspect", "--authfile", str(self.authfile)]
        if ref.startswith("docker://"):
            # --no-tags: listing tags would hit /tags/list, which a mirror may not serve.
            args += ["--tls-verify=false", "--no-tags"]
        if creds:
            args += ["--creds", creds]
        if raw:
            args.append("--raw")
        return self.run(*args, ref).stdout

    def inspect_digest(self, ref: str, *, creds: str | None = None) -> str:
        """The manifest digest (``sha256:...``) that ``ref`` resolves to."""
        return str(json.loads(self.inspect(ref, creds=creds))["Digest"])

    def cleanup(self) -> None:
        """Remove the private config directory."""
        shutil.rmtree(self.workdir, ignore_errors=True)


_default: Skopeo | None = None


def default() -> Skopeo:
    """A process-wide Skopeo with a private temporary config directory."""
    global _default
    if _default is None:
        _default = Skopeo()
    return _default


def push(layout_dir: Path | str, ref: str, dest: str) -> None:
    """Push ``oci:<layout_dir>:<ref>`` to ``dest`` (a reference like ``127.0.0.1:5000/x:1``)."""
    default().push(layout_dir, ref, dest)


def copy(
    src: str, dest: str, *, src_creds: str | None = None, dest_creds: str | None = None
) -> None:
    """Copy an image between two references (docker:// implied when no transport is given)."""
    default().copy(src, dest, src_creds=src_creds, dest_creds=dest_creds)


def inspect_digest(ref: str, *, creds: str | None = None) -> str:
    """The manifest digest ``ref`` resolves to."""
    return default().inspect_digest(ref, creds=creds)

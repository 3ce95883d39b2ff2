"""Fail the Nth generated-file write inside a CLI subprocess (the file targets' fault matrix).

Loopback fakes can fail HTTP writes; files need a hook in the process that writes them. The lab
starts the CLI as ``python -c "<BOOT>" ARGS`` with ``PROVISIONER_TEST_FILE_FAULT=kind:N``; this
module then makes the Nth (0-based) write fail the way a full disk or a read-only mount does:

- ``enospc``: ``fsync`` of the temporary file raises ENOSPC (the data never reached the disk);
- ``erofs``: the final ``rename`` over the old file raises EROFS.

Both hit :func:`provisioner.backends.files.write_file` mid-way, so the test sees whether a
failed write leaves the old file intact and no temporary file behind.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

ENV = "PROVISIONER_TEST_FILE_FAULT"
KINDS = ("enospc", "erofs")
BOOT = ("import tests.reliability.filefault as f; f.install(); "
        "from provisioner.cli import main; main()")

_lock = threading.Lock()
_state = {"count": 0}


def install() -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    kind, _, index = spec.partition(":")
    target = int(index)
    real_fsync, real_replace = os.fsync, os.replace

    def turn() -> bool:
        with _lock:
            mine = _state["count"]
            _state["count"] += 1
        return mine == target

    def fsync(fd: int) -> None:
        if kind == "enospc" and turn():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        if kind == "erofs" and turn():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        real_replace(src, dst, **kwargs)

    os.fsync = fsync
    os.replace = replace  # type: ignore[assignment]

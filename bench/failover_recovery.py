"""Benchmark: time from the primary upstream's death to the first pull of a new image through a
generated Distribution cache, with ``provisioner watch --interval 1s --on-change <restart>``.

Each run builds the real chain of ``tests/e2e/test_failover_registry.py`` (docker-registry
origins, a docker-registry pull-through as primary, a fake Docker Hub as secondary, the cache
registry under a supervisor that the hook restarts), waits for watch's first round plus a random
part of the interval (so the death lands anywhere between two rounds), SIGKILLs the primary and
measures until ``library/only-b:1`` (held only by the secondary's origin) has been copied through
the cache with skopeo. The worst case is about one interval plus the overhead (probe, apply,
restart, pull). Needs docker-registry and skopeo.

Run from the repository root: ``python bench/failover_recovery.py [RUNS]`` (default 5).
"""

from __future__ import annotations

import random
import socketserver
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.test_failover_registry import FailoverRig  # noqa: E402
from tests.support import HELLO_REF  # noqa: E402
from tests.support.oci import build_layout_image  # noqa: E402
from tests.support.processes import Processes  # noqa: E402
from tests.support.skopeo import Skopeo  # noqa: E402

INTERVAL = 1.0


def _quiet_handle_error(self: Any, request: Any, client_address: Any) -> None:
    # The fake hub's keep-alive sockets are reset when a registry process is stopped; that is
    # expected here and not worth a traceback on the terminal.
    if not isinstance(sys.exc_info()[1], ConnectionError):
        _default_handle_error(self, request, client_address)


_default_handle_error = socketserver.BaseServer.handle_error
socketserver.BaseServer.handle_error = _quiet_handle_error  # type: ignore[method-assign]


def one_run(root: Path, skopeo: Skopeo, images: tuple[object, object], phase: float) -> float:
    processes = Processes(root / "logs")
    rig = FailoverRig(root, processes, skopeo, *images)  # type: ignore[arg-type]
    try:
        rig.start_chain()
        applied = rig.cli("apply", "-y", str(rig.profile))
        assert applied.returncode == 0, applied.log_tail()
        rig.start_cache()
        assert rig.pull(HELLO_REF, root / "hello") == rig.hello.content
        watch = rig.start_watch(f"{INTERVAL:g}s")
        rig.wait_for(lambda: "cache hub: using primary" in watch.log_text(), "watch's first round")
        time.sleep(phase)
        return rig.measure_failover(root)
    finally:
        rig.close()
        processes.stop_all()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as scratch:
        base = Path(scratch)
        skopeo = Skopeo(base / "skopeo")
        images = (build_layout_image(base / "img-hello", "1", "hello from the origin\n"),
                  build_layout_image(base / "img-b", "only-b", "only on origin B\n"))
        times = []
        phases = random.Random(5).sample(range(0, 100), runs)
        for i in range(runs):
            phase = phases[i] / 100 * INTERVAL
            seconds = one_run(base / f"run-{i}", skopeo, images, phase)
            times.append(seconds)
            print(f"run {i + 1}: killed {phase:.2f}s after a round started, recovered in "
                  f"{seconds:.2f}s", flush=True)
    print(f"primary killed -> new image pulled through the cache (watch --interval {INTERVAL:g}s): "
          f"median {statistics.median(times):.2f}s  min {min(times):.2f}s  max {max(times):.2f}s "
          f"({runs} runs)")


if __name__ == "__main__":
    main()

"""The benchmarks kept next to the code they measure, run as they are and read back.

- ``bench/probe_20.py``: ``probe`` of 20 loopback upstreams answering each request after 200 ms
  (three requests per probe), in-process and through the CLI; and 5 upstreams of which 3 fail
  in different ways, with a 2 s timeout.
- ``bench/failover_recovery.py``: the real registry failover chain (docker-registry, skopeo);
  from SIGKILL of the primary upstream to the first pull of a new image through the cache under
  ``provisioner watch --interval 1s``. Skipped when docker-registry or skopeo is missing.

Each runs in its own process; their summary lines are parsed into :class:`Stats`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Stats, env  # noqa: E402

_SUMMARY = re.compile(r"median ([\d.]+)s\s+min ([\d.]+)s\s+max ([\d.]+)s\s+\(?(\d+) runs\)")


@dataclass(frozen=True)
class ExternalRow:
    label: str
    wall: Stats | None
    note: str = ""


def _stats(line: str) -> Stats:
    """Stats with the median, min and max a script printed (its runs are not all printed)."""
    match = _SUMMARY.search(line)
    if match is None:
        raise SystemExit(f"cannot read a summary from: {line!r}")
    median, low, high = (float(match.group(i)) for i in (1, 2, 3))
    return Stats((low, median, high))


def _python(code: str, timeout: float) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env=env(), timeout=timeout, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{code} failed:\n{result.stdout[-1500:]}{result.stderr[-1500:]}")
    return result.stdout


def probe(runs: int) -> list[ExternalRow]:
    out = _python("import sys; sys.path.insert(0, 'bench'); import probe_20; "
                  f"probe_20.RUNS = {runs}; probe_20.main()", timeout=600)
    rows: list[ExternalRow] = []
    section = ""
    for line in out.splitlines():
        if line.startswith("20 upstreams"):
            section = "probe 20 upstreams x 200 ms/request (3 requests each; serial >= 12 s)"
        elif "5 upstreams" in line:
            section = "probe 5 upstreams: 2 healthy, refused, hanging, HTTP 500; timeout 2s"
        elif "median" in line and ("in-process:" in line or "CLI" in line):
            where = "in-process" if "in-process" in line else "CLI `provisioner probe`"
            rows.append(ExternalRow(f"{section}, {where}", _stats(line)))
    return rows


def failover(runs: int) -> list[ExternalRow]:
    label = "failover: primary SIGKILLed -> new image pulled via cache (watch --interval 1s)"
    missing = [tool for tool in ("docker-registry", "skopeo") if shutil.which(tool) is None]
    if missing:
        return [ExternalRow(label, None, f"skipped: {', '.join(missing)} not installed")]
    out = _python(f"import sys; sys.argv = ['failover_recovery.py', '{runs}']; "
                  "sys.path.insert(0, 'bench'); import failover_recovery; "
                  "failover_recovery.main()", timeout=120 + 60 * runs)
    summary = [line for line in out.splitlines() if line.startswith("primary killed")]
    return [ExternalRow(label, _stats(summary[-1]))]

"""Start-up: ``provisioner --version``, ``--help`` and ``validate``, and what they import.

``--version`` is timed through the console script two ways: the pyenv shim found on PATH (a
bash script that runs ``pyenv exec``, so it adds its own start-up) and the script itself in the
interpreter's bin directory. ``validate profiles/full.yaml`` runs with the passwords it reads
from the environment. The import time of ``provisioner.cli`` comes from ``python -X importtime``
(its cumulative microseconds), and the modules a ``validate`` imports are checked for the heavy
ones it must not need (requests, urllib3, the backends).

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import FULL_ENV, ROOT, Stats, env, repeat, run_cli  # noqa: E402

HEAVY = ("requests", "urllib3", "provisioner.backends.nexus", "provisioner.backends.harbor",
         "provisioner.engine", "provisioner.probe")
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


@dataclass(frozen=True)
class StartupRow:
    label: str
    wall: Stats
    note: str = ""


def console_scripts() -> list[tuple[str, list[str]]]:
    """(label, command) of the console script via the PATH (pyenv shim) and directly."""
    out = []
    direct = Path(sys.executable).parent / "provisioner"
    # Under pyenv, this interpreter runs with its own bin directory put first on PATH, so the
    # shim is the first other ``provisioner`` on PATH (or the one in $PYENV_ROOT/shims).
    shims = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "shims"
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p) != direct.parent)
    on_path = shutil.which("provisioner", path=path) or shutil.which("provisioner",
                                                                     path=str(shims))
    if on_path and Path(on_path) != direct:
        out.append((f"shim ({on_path})", [on_path]))
    if direct.exists():
        out.append((f"direct ({direct})", [str(direct)]))
    return out or [("python -m provisioner.cli", [sys.executable, "-m", "provisioner.cli"])]


def imports(args: list[str], extra: dict[str, str] | None = None) -> dict[str, tuple[int, int]]:
    """Module -> (self, cumulative) microseconds, from ``python -X importtime``."""
    result = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                            text=True, cwd=ROOT, env=env(**(extra or {})), check=False)
    found: dict[str, tuple[int, int]] = {}
    for line in result.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            found[match.group(4)] = (int(match.group(1)), int(match.group(2)))
    return found


def import_time_ms(runs: int) -> Stats:
    return Stats(tuple(imports(["-c", "import provisioner.cli"])["provisioner.cli"][1] / 1000
                       for _ in range(runs)))


def heavy_imports(args: list[str], extra: dict[str, str] | None = None) -> list[str]:
    seen = imports(["-m", "provisioner.cli", *args], extra)
    return sorted(m for m in seen if any(m == h or m.startswith(h + ".") for h in HEAVY)
                  and not any(m.startswith(h + ".") for h in HEAVY if h != m))


def run(runs: int) -> list[StartupRow]:
    rows = []
    for label, command in console_scripts():
        run_cli(["--version"], command=command)  # warm the file cache
        rows.append(StartupRow(f"--version, {label}",
                               repeat(runs, lambda c=command: run_cli(["--version"], command=c))))
    command = console_scripts()[-1][1]
    rows.append(StartupRow("--help", repeat(runs, lambda: run_cli(["--help"], command=command)),
                           _heavy_note(["--help"])))
    full = ["validate", "profiles/full.yaml"]
    rows.append(StartupRow("validate profiles/full.yaml",
                           repeat(runs, lambda: run_cli(full, command=command,
                                                        extra_env=FULL_ENV)),
                           _heavy_note(full, FULL_ENV)))
    ms = import_time_ms(runs)
    rows.append(StartupRow("import provisioner.cli (-X importtime)",
                           Stats(tuple(v / 1000 for v in ms.values))))
    return rows


def _heavy_note(args: list[str], extra: dict[str, str] | None = None) -> str:
    heavy = heavy_imports(args, extra)
    return "imports none of requests, urllib3, engine, backends, probe" if not heavy else \
        "imports " + ", ".join(heavy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    for row in run(args.runs):
        print(f"{row.label:<60} {row.wall.seconds():<22} {row.note}", flush=True)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()

"""Print every reliability figure of issue 7 in one run.

    python -m tests.reliability.figures            # everything (about 15 minutes on 2 CPUs)
    python -m tests.reliability.figures --only fuzz --fuzz 2000
    python -m tests.reliability.figures --workers 4

Sections: faults (every write of a full apply x every fault kind), input (the bad-profile
corpus and the hypothesis fuzz), answers (malformed server answers, and answers broken below
HTTP), secrets, tls, ownership, concurrency. Each prints counts; a section ends with the list
of scenarios that were not survived ("problems: none" when there are none). Exit status 1 when
any section found a problem.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("faults", "input", "answers", "secrets", "tls", "ownership", "concurrency")


def table(rows: list[list[Any]], head: list[str]) -> str:
    """Columns whose cells are all numbers (or durations) align right, the others left."""
    cells = [head, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    numeric = [all(re.fullmatch(r"[\d.,]*( ?m?s)?", row[i]) for row in cells[1:])
               for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if numeric[i] else c.ljust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in cells]
    return "\n".join("    " + line for line in lines)


def problems_line(problems: list[str]) -> str:
    if not problems:
        return "    problems: none"
    return "    problems:\n" + "\n".join(f"      - {p}" for p in problems)


# -- 1. fault matrix ----------------------------------------------------------------------
def faults(workers: int) -> list[str]:
    from tests.reliability import faultmatrix as fm

    with tempfile.TemporaryDirectory() as tmp:
        base = fm.baseline(Path(tmp))
    print("1. Fault matrix: every write of a full apply (fresh Nexus and Harbor with bootstrap,")
    print("   Registry files, upstream proxies, client configs), --parallelism 1, one fault each,")
    print("   then one clean apply; checked: one error line naming the change, or success by a")
    print("   safe retry; converged; state equal to a fault-free apply; foreign resources intact")
    print("   writes per apply: " + ", ".join(f"{k} {len(v)}" for k, v in base.writes.items()))
    started = time.monotonic()
    outcomes = fm.run_matrix(base.scenarios(), base, workers=workers)
    rows, problems = [], []
    for server in fm.SERVERS:
        for kind in fm.KINDS[server]:
            mine = [o for o in outcomes if o.scenario.server == server and o.scenario.kind == kind]
            survived = sum(o.survived and o.ok for o in mine)
            clean = sum(not o.survived and o.ok for o in mine)
            rows.append([server, kind, len(mine), survived, clean, len(mine) - survived - clean])
    total = len(outcomes)
    ok = sum(o.ok for o in outcomes)
    rows.append(["total", "", total, sum(o.survived and o.ok for o in outcomes),
                 sum(not o.survived and o.ok for o in outcomes), total - ok])
    print(table(rows, ["server", "fault", "scenarios", "survived", "failed cleanly",
                       "not survived"]))
    print(f"    {ok} of {total} scenarios converged after one clean re-apply "
          f"({time.monotonic() - started:.0f}s)")
    problems = [f"{o.scenario}: {'; '.join(o.problems)}" for o in outcomes if not o.ok]
    print(problems_line(problems))
    return problems


# -- 2. bad input -------------------------------------------------------------------------
def bad_input(examples: int) -> list[str]:
    from provisioner.cli import main
    from tests.reliability import fuzzing

    corpus = REPO / "tests" / "corpus" / "bad"
    expected = dict(line.split("\t", 1) for line in
                    (REPO / "tests/corpus/bad-expected.tsv").read_text().splitlines())
    mismatches = []
    for name, line in sorted(expected.items()):
        path = corpus / f"{name}.yaml"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
            main(["validate", str(path)])
        if err.getvalue().splitlines() != [line.replace("{file}", str(path))]:
            mismatches.append(f"corpus {name}: {err.getvalue().strip()!r}")
    print("2. Bad input")
    print(f"    corpus: {len(expected)} malformed profiles, "
          f"{len(expected) - len(mismatches)} answered with their exact one-line error")
    per = examples // len(fuzzing.STRATEGIES)
    rows, problems = [], list(mismatches)
    totals: Counter[str] = Counter()
    slowest = 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for name in fuzzing.STRATEGIES:
            counts = fuzzing.run(name, per, Path(tmp))
            rows.append([name, counts["examples"], counts["profile"], counts["error"],
                         len(counts["findings"]), counts["hangs"],
                         f"{counts['slowest'] * 1000:.0f} ms"])
            totals.update({k: counts[k] for k in ("examples", "profile", "error", "hangs")})
            totals["findings"] += len(counts["findings"])
            slowest = max(slowest, counts["slowest"])
            problems += [f"fuzz {name}: {f[:300]}" for f in counts["findings"][:5]]
    rows.append(["total", totals["examples"], totals["profile"], totals["error"],
                 totals["findings"], totals["hangs"], f"{slowest * 1000:.0f} ms"])
    print(f"    fuzz (hypothesis, {totals['examples']} examples, "
          f"{time.monotonic() - started:.0f}s): every outcome a Profile or a one-line "
          "'<file>:<line>: ...' ProfileError")
    print(table(rows, ["strategy", "examples", "Profile", "ProfileError", "other outcome",
                       "hangs", "slowest"]))
    print(problems_line(problems))
    return problems


# -- 3. malformed answers -------------------------------------------------------------------------
def answers(workers: int) -> list[str]:
    from provisioner.errors import ProvisionerError
    from provisioner.http import HttpClient
    from tests.reliability import malformed
    from tests.reliability.faultmatrix import baseline
    from tests.reliability.rawserver import KINDS, raw_server

    with tempfile.TemporaryDirectory() as tmp:
        requests = malformed.requests_of(Path(tmp) / "a")
        reference = baseline(Path(tmp) / "b").snapshot
    cases = malformed.cases(requests)
    started = time.monotonic()
    results = malformed.run_cases(cases, reference, workers=workers)
    print("3. Malformed server answers: every distinct request of a fresh apply and of a")
    print("   converged diff, answered wrongly once; then one clean apply must converge")
    rows = []
    for kind in malformed.KINDS:
        mine = [r for r in results if r.case.kind == kind]
        rows.append([kind, len(mine), sum(r.ok and not r.accepted for r in mine),
                     sum(r.ok and r.accepted for r in mine), sum(not r.ok for r in mine)])
    rows.append(["total", len(results), sum(r.ok and not r.accepted for r in results),
                 sum(r.ok and r.accepted for r in results), sum(not r.ok for r in results)])
    print(table(rows, ["answer", "cases", "one error line", "not relied on", "problems"]))
    print(f"    ({time.monotonic() - started:.0f}s; 'not relied on': exit 0 because the body "
          "is never read, e.g. a write's answer or a /ping poll)")
    problems = [f"{r.case}: {'; '.join(r.problems)}" for r in results if not r.ok]
    print("   below HTTP (HttpClient, timeout 1s: each read 1s, the whole answer 3s):")
    rows = []
    for kind in KINDS:
        with raw_server(kind) as url:
            client = HttpClient(url, timeout=1)
            client.deadline_floor = 2.0
            start = time.monotonic()
            try:
                client.request("GET", "/v2/")
                outcome = "accepted (!)"
                problems.append(f"raw {kind}: accepted")
            except ProvisionerError as exc:
                outcome = str(exc).split(": ", 1)[-1]
            rows.append([kind, f"{time.monotonic() - start:.1f}s", outcome])
    print(table(rows, ["server", "took", "error"]))
    print(problems_line(problems))
    return problems


# -- 4. secrets -----------------------------------------------------------------------------------
def secrets_scan() -> list[str]:
    from tests.reliability import secretscan

    with tempfile.TemporaryDirectory() as tmp, secretscan.build(Path(tmp)) as world:
        outputs = output_hits = secretscan.output_hits(world)
        files = secretscan.generated_files(world)
        file_hits = secretscan.file_hits(world)
        server_hits = secretscan.server_hits(world)
        commands = Counter(" ".join(a for a in run.args[1:3] if a.startswith("-") or
                                    a in ("validate", "schema", "diff", "probe", "apply",
                                          "watch")) or run.args[0] for run in world.runs)
        volume = sum(len(r.stdout) + len(r.stderr) for r in world.runs)
        secret_files = sum(1 for p in files if any(v in p.read_text(errors="replace")
                                                   for v in world.secrets().values()))
        print("4. Secrets: every command with --debug and distinctive secrets, then a scan")
        listed = ", ".join(f"{k} x{v}" for k, v in commands.items())
        print(f"    runs: {len(world.runs)} ({listed})")
        print(f"    secret values and wire forms looked for: {len(world.secrets())}")
        print(f"    output scanned: {volume:,} characters of stdout/stderr -> "
              f"{len(outputs)} hits")
        print(f"    generated files scanned: {len(files)} ({secret_files} hold a secret and must "
              f"be 0600; no temp file may remain) -> {len(file_hits)} hits")
        print(f"    server objects scanned (Nexus, Harbor): secrets outside their credential "
              f"field -> {len(server_hits)} hits")
    problems = output_hits + file_hits + server_hits
    print(problems_line(problems))
    return problems


# -- 5. TLS ---------------------------------------------------------------------------------------
def tls() -> list[str]:
    import requests

    from provisioner.errors import ProvisionerError
    from provisioner.http import HttpClient, Tls
    from tests.fakes.nexus import NexusFake
    from tests.reliability.tlsutil import issue, make_ca, serve_tls

    print("5. TLS: a fake Nexus behind real TLS on 127.0.0.1, its certificate from a CA made in")
    print("   the run; one request per profile choice")
    rows, problems = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ca, other = make_ca(root / "ca"), make_ca(root / "other", "other CA")
        fake = NexusFake(bootstrapped=True)
        url = serve_tls(fake, issue(ca, root / "srv"))
        cases: list[tuple[str, Tls, dict[str, str], bool]] = [
            ("default (system CAs)", Tls(), {}, False),
            ("ca_file: the CA", Tls(ca_file=ca.pem), {}, True),
            ("ca_file: another CA", Tls(ca_file=other.pem), {}, False),
            ("insecure: true", Tls(insecure=True), {}, True),
            ("ca_file + REQUESTS_CA_BUNDLE=another CA", Tls(ca_file=ca.pem),
             {"REQUESTS_CA_BUNDLE": str(other.pem)}, True),
            ("insecure + REQUESTS_CA_BUNDLE=another CA", Tls(insecure=True),
             {"REQUESTS_CA_BUNDLE": str(other.pem)}, True),
            ("default + CURL_CA_BUNDLE=''", Tls(), {"CURL_CA_BUNDLE": ""}, False),
            ("ca_file missing", Tls(ca_file=root / "missing.pem"), {}, False),
        ]
        for label, choice, env, want in cases:
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                HttpClient(url, tls=choice, timeout=5).request("GET", "/service/rest/v1/status")
                outcome, got = "200", True
            except ProvisionerError as exc:
                outcome, got = "refused: " + str(exc).split(": ", 1)[-1].split(" (hint")[0], False
            finally:
                os.environ.clear()
                os.environ.update(saved)
            rows.append([label, outcome])
            if got != want:
                problems.append(f"{label}: {outcome}")
        session = requests.Session()
        session.verify = str(ca.pem)
        os.environ["REQUESTS_CA_BUNDLE"] = str(other.pem)
        try:
            session.get(url + "/service/rest/v1/status", timeout=5)
            control = "200 (the trap is gone)"
        except (requests.exceptions.SSLError, OSError):
            control = "refused: Session.verify was overridden by the environment"
        finally:
            del os.environ["REQUESTS_CA_BUNDLE"]
        rows.append(["control: plain requests.Session(verify=CA) + REQUESTS_CA_BUNDLE", control])
        fake.stop()
    print(table(rows, ["choice", "outcome"]))
    print(problems_line(problems))
    return problems


# -- 6. ownership -------------------------------------------------------------------------------
def ownership() -> list[str]:
    import json

    from tests.reliability import test_ownership as own
    from tests.reliability.lab import lab

    problems = []
    with tempfile.TemporaryDirectory() as tmp, lab(Path(tmp)) as world:
        assert world.apply().returncode == 0
        own._plant_lookalikes(world)
        dropped = str(own._drop_ghcr(world))
        before = own._everything(world)
        for fake in (world.nexus, world.harbor):
            fake.reset_log()
        commands = [("apply", dropped, "-y"), ("apply", dropped, "-y", "--replace"),
                    ("diff", dropped), ("apply", dropped, "-y", "--target", "hq-nexus"),
                    ("watch", dropped, "--once")]
        for args in commands:
            if world.cli(*args).returncode != 0:
                problems.append(f"{' '.join(args[:1] + args[2:])} failed")
        without = len(own._deletes(world))
        plan = json.loads(world.cli("diff", dropped, "--prune", "--json").stdout)
        planned = {c["address"] for c in plan["resource_changes"]
                   if c["change"]["actions"] == ["delete"]}
        for fake in (world.nexus, world.harbor):
            fake.reset_log()
        world.cli("apply", dropped, "-y", "--prune")
        deleted = own._deletes(world)
        after = own._everything(world)
        kept = [n for n in ("ghcr-mirror", "dockerhub-extra", "ghcr-handmade", "foreign-docker",
                            "foreign-maven") if after["nexus"].get(n) == before["nexus"].get(n)]
        kept += [n for n in ("provisioner-ghcr-old", "provisioner-ghcr-other", "foreign-endpoint")
                 if after["harbor"]["registries"].get(n) == before["harbor"]["registries"].get(n)]
        kept += [n for n in ("ghcr-old", "ghcr-other", "foreign-project", "library")
                 if after["harbor"]["projects"].get(n) == before["harbor"]["projects"].get(n)]
    print("6. Ownership: a converged world, look-alikes planted (name prefixes, a marker-like")
    print("   text, another target's marker, foreign objects), then the profile drops cache ghcr")
    print(f"    DELETE requests without --prune ({len(commands)} commands incl. --replace, "
          f"--target, watch): {without}")
    print(f"    planned deletes with --prune: {len(planned)} ({', '.join(sorted(planned))})")
    print(f"    DELETE requests with --prune: {len(deleted)}; untouched look-alikes and foreign "
          f"objects: {len(kept)} of 12")
    if without:
        problems.append(f"{without} DELETE requests without --prune")
    if planned != own.DROPPED or len(deleted) != len(own.DROPPED):
        problems.append(f"prune deleted {deleted}")
    if len(kept) != 12:
        problems.append(f"only {len(kept)} of 12 look-alikes kept")
    print(problems_line(problems))
    return problems


# -- 7. concurrency -----------------------------------------------------------------------
def concurrency(rounds: int) -> list[str]:
    from tests.reliability import concurrency as conc
    from tests.reliability.faultmatrix import baseline

    with tempfile.TemporaryDirectory() as tmp:
        base = baseline(Path(tmp))
    print("7. Concurrency: applies of the same profile started together (servers answer in")
    print("   50 ms, so every create races); state compared with a single clean apply")
    rows, problems = [], []
    for label, kwargs in (("2 applies, set-up servers", {"runs": 2}),
                          ("3 applies, set-up servers", {"runs": 3}),
                          ("2 applies, fresh servers (bootstrap races too)",
                           {"runs": 2, "bootstrapped": False, "recover": True})):
        outcomes = conc.races(base, rounds, **kwargs)
        all_ok = sum(all(r.returncode == 0 for r in o.runs) for o in outcomes)
        converged = sum(not o.state_problems for o in outcomes)
        conflicts = sum(o.conflicts for o in outcomes)
        rows.append([label, len(outcomes), all_ok, conflicts, converged])
        strict = kwargs.get("bootstrapped", True)
        problems += [f"{label}: {p}" for o in outcomes
                     for p in (o.problems if strict else o.state_problems)]
    print(table(rows, ["race", "rounds", "every run exit 0", "'already exists' absorbed",
                       "converged, no duplicate"]))
    print("    (fresh servers: the losing run's old-password attempt can trip Harbor's login lock;")
    print("     a run that fails says so in one line and the next apply converges)")
    print(problems_line(problems))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=SECTIONS)
    parser.add_argument("--workers", type=int, default=3, help="scenarios run at once")
    parser.add_argument("--fuzz", type=int, default=10_000, help="fuzz examples in total")
    parser.add_argument("--rounds", type=int, default=5, help="races per concurrency row")
    args = parser.parse_args(argv)
    chosen = args.only or list(SECTIONS)
    print(f"provisioner reliability figures: {time.strftime('%Y-%m-%d %H:%M')}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.system()}\n")
    runs: dict[str, Callable[[], list[str]]] = {
        "faults": lambda: faults(args.workers),
        "input": lambda: bad_input(args.fuzz),
        "answers": lambda: answers(args.workers),
        "secrets": secrets_scan,
        "tls": tls,
        "ownership": ownership,
        "concurrency": lambda: concurrency(args.rounds),
    }
    found: dict[str, int] = {}
    started = time.monotonic()
    for name in SECTIONS:
        if name in chosen:
            found[name] = len(runs[name]())
            print()
    print(f"Summary ({time.monotonic() - started:.0f}s): " + ", ".join(
        f"{name} {'ok' if n == 0 else f'{n} problem(s)'}" for name, n in found.items()))
    return 1 if any(found.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

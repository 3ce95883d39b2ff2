"""The command contract: exit codes, stdout vs stderr, confirmation, --target, colour."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.console import colour_wanted
from tests.conftest import cli_command


def profile(tmp_path: Path, extra_target: bool = False) -> Path:
    path = tmp_path / "p.yaml"
    text = f"""version: 1
probe: {{enabled: false}}
upstreams:
  hub: {{kind: docker-hub}}
caches:
  dockerhub: {{upstreams: [hub]}}
targets:
  edge: {{kind: registry, output: {tmp_path / "edge"}, listen: '127.0.0.1:5000'}}
"""
    if extra_target:
        text += (
            f"  edge2: {{kind: registry, output: {tmp_path / 'edge2'}, listen: '127.0.0.1:5001'}}\n"
        )
    path.write_text(text)
    return path


def run(args: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capfd.readouterr()
    return int(info.value.code or 0), out, err


def test_version_and_help(capfd: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capfd)
    assert (code, out) == (0, "provisioner, version 0.1.0\n")
    code, out, _ = run(["--help"], capfd)
    assert code == 0
    for command in ("validate", "diff", "apply", "schema"):
        assert command in out


def test_diff_detailed_exitcode_before_and_after_apply(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    p = str(profile(tmp_path))
    code, out, _ = run(["diff", p, "--detailed-exitcode"], capfd)
    assert code == 2 and out.rstrip().endswith("Plan: 2 to add, 0 to change, 0 to destroy.")
    code, _, _ = run(["diff", p], capfd)
    assert code == 0, "without --detailed-exitcode a plan with changes is still a success"
    code, out, err = run(["apply", p, "-y"], capfd)
    assert code == 0 and "Apply complete: 2 added" in out
    assert "registry.edge.dockerhub/config.yml: create done" in err
    code, out, _ = run(["diff", p, "--detailed-exitcode"], capfd)
    assert (code, out) == (0, "No changes. Every target matches the profile.\n")
    code, out, _ = run(["apply", p, "-y"], capfd)
    assert (code, out) == (0, "No changes. Every target matches the profile.\n")


def test_apply_without_tty_refuses_and_changes_nothing(tmp_path: Path) -> None:
    p = profile(tmp_path)
    proc = subprocess.run(
        cli_command("apply", str(p)),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        "Error: refusing to apply without confirmation: no terminal "
        "to ask on; pass -y/--auto-approve"
    )
    assert not (tmp_path / "edge").exists()


def test_usage_error_exits_1_even_with_detailed_exitcode(tmp_path: Path) -> None:
    proc = subprocess.run(
        cli_command("diff", str(profile(tmp_path)), "--detailed-exitcode", "--frobnicate"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr == "Error: No such option '--frobnicate'. (try 'provisioner diff --help')\n"


def test_target_filter(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    p = str(profile(tmp_path, extra_target=True))
    code, out, _ = run(["diff", p, "--target", "edge2", "--json"], capfd)
    assert code == 0
    addresses = {c["address"] for c in json.loads(out)["resource_changes"]}
    assert addresses == {
        "registry.edge2.dockerhub/config.yml",
        "registry.edge2.dockerhub/compose.yaml",
    }
    code, _, err = run(["diff", p, "--target", "nope"], capfd)
    assert (code, err) == (1, "Error: unknown target 'nope' (known: edge, edge2)\n")


def test_json_plan_shape(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["diff", str(profile(tmp_path)), "--json"], capfd)
    data = json.loads(out)
    assert code == 0 and err == ""
    assert data["format_version"] == "1.0"
    assert [c["change"]["actions"] for c in data["resource_changes"]] == [["create"], ["create"]]
    assert "http.secret" not in out and "secret: " not in data["resource_changes"][0]["change"][
        "diff"
    ].replace("secret: (sensitive)", "")


def test_colour_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert colour_wanted(Tty(), disabled=False)
    assert not colour_wanted(io.StringIO(), disabled=False), "never colour a pipe"
    assert not colour_wanted(Tty(), disabled=True), "--no-color"
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_wanted(Tty(), disabled=False), "NO_COLOR"


def test_unexpected_error_is_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr("provisioner.engine.plan_all", boom)
    code, _, err = run(["diff", str(profile(tmp_path))], capfd)
    assert code == 1
    assert (
        err == "Error: internal error: RuntimeError: kaput (run with --debug for the traceback)\n"
    )

"""Every malformed profile gets one clear line (file:line, field, what was expected) and exit 1.

The corpus lives in tests/corpus/bad/; the exact expected line of each file is in
tests/corpus/bad-expected.tsv (``{file}`` stands for the path given on the command line).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from provisioner.cli import main
from tests.conftest import REPO, cli_command

CORPUS = REPO / "tests" / "corpus" / "bad"
EXPECTED = dict(
    line.split("\t", 1)
    for line in (REPO / "tests/corpus/bad-expected.tsv").read_text().splitlines()
)


def run_validate(path: Path, capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(path)])
    out, err = capfd.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_corpus_is_large_and_fully_expected() -> None:
    files = sorted(p.stem for p in CORPUS.glob("*.yaml"))
    assert len(files) >= 80
    assert sorted(EXPECTED) == files


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_profile_gives_one_line(name: str, capfd: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / f"{name}.yaml"
    code, out, err = run_validate(path, capfd)
    assert code == 1
    assert out == ""
    assert err.splitlines() == [EXPECTED[name].replace("{file}", str(path))]
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"version: 1\n" + b"# padding\n" * 1_100_000,
            "file is larger than 1000 kB; a profile is far smaller",
        ),
        (b"version: 1\nupstreams:\n  hub: {kind: \xff\xfe}\n", "not UTF-8 text"),
    ],
    ids=["ten-megabytes", "not-utf8"],
)
def test_generated_bad_files(
    tmp_path: Path, content: bytes, expected: str, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "profile.yaml"
    path.write_bytes(content)
    code, _, err = run_validate(path, capfd)
    assert code == 1
    assert err.splitlines() == [f"Error: {path}:1: {expected}"]


def test_missing_file_and_directory(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_validate(tmp_path / "nope.yaml", capfd)
    assert (code, err) == (1, f"Error: {tmp_path / 'nope.yaml'}: no such file\n")
    code, _, err = run_validate(tmp_path, capfd)
    assert code == 1 and err.startswith("Error: ") and "directory" in err


def test_as_a_real_subprocess_no_traceback() -> None:
    path = CORPUS / "unknown-upstream-key.yaml"
    proc = subprocess.run(
        cli_command("validate", str(path)), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == f"Error: {path}:5: upstreams.hub.ulr: unknown key; did you mean 'url'?\n"

"""``harness run``: bad atomic arguments are one error before anything runs (no target is opened)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Nothing listens on port 1: had the run reached the target, the error would be a connection error.
UNREACHABLE = "ssh://root@127.0.0.1:1?connect_timeout=2"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", *args, "--target", UNREACHABLE], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_misspelt_argument_is_an_error_listing_the_known_ones() -> None:
    proc = _run("T1590.005-3", "--arg", "target_rnge=198.51.100.0/28")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "harness: error: unknown atomic argument 'target_rnge' (did you mean 'target_range'?): no selected atomic "
        "(T1590.005-3) declares it; known: output_file, target_range\n"
    )


def test_wrong_type_is_an_error_before_anything_runs() -> None:
    proc = _run("T1590.005-5", "--arg", "asn=abc")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == "harness: error: T1590.005-5: input argument asn must be an integer, got 'abc'\n"


def test_argument_some_selected_atomics_declare_is_accepted() -> None:
    """target_range is declared by -3 only: accepted with -3 and -5 selected; the run then goes on
    to the (unreachable) target, which proves the arguments were not what stopped it."""
    proc = _run("T1590.005-3", "T1590.005-5", "--arg", "target_range=198.51.100.0/28", "--arg", "asn=64501")
    assert proc.returncode == 2
    assert proc.stderr == "harness: error: ssh root@127.0.0.1:1: cannot connect: connection refused\n"

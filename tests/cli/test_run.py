"""``harness run``: bad atomic arguments are one error before anything runs (no target is opened);
over several targets, a dead target is ERROR for its own atomics and the others run on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
# Nothing listens on port 1: had the run reached the target, the error would be a connection error.
UNREACHABLE = "ssh://root@127.0.0.1:1?connect_timeout=2"
SCOPE = str(REPO / "tests" / "data" / "scope" / "lab-hosts.toml")  # a real host needs a declared scope


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", *args, "--target", UNREACHABLE,
                           "--scope", SCOPE], cwd=REPO,
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
    assert proc.returncode == 1  # the unreachable target's atomics are ERROR with the reason
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and all("ERROR" in line and "ssh root@127.0.0.1:1: cannot connect: connection refused"
                                   in line for line in lines), proc.stdout + proc.stderr


def test_each_unreachable_host_is_error_and_the_run_goes_on(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.ini"
    # Ports 1 and 9 on loopback: nothing listens there, the connection is refused at once.
    inv.write_text("[dead]\ndead1 ansible_host=127.0.0.1 ansible_port=1\n"
                   "dead2 ansible_host=127.0.0.1 ansible_port=9 atomic_arg_target_range=198.51.100.64/28\n")
    assert main(["run", "T1590.005-3", "--inventory", str(inv), "--scope", SCOPE]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "== ssh://dead1" and out[2] == "== ssh://dead2"
    assert "ERROR" in out[1] and "target ssh://dead1: ssh root@127.0.0.1:1: cannot connect" in out[1]
    assert "ERROR" in out[3] and "target ssh://dead2: ssh root@127.0.0.1:9: cannot connect" in out[3]


def test_real_host_without_scope_refused_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "T1590.005-3", "--target", "ssh://root@127.0.0.1:1"]) == 2
    assert "is a real host, not a lab: a run against it needs a declared scope" in capsys.readouterr().err


def test_inventory_arguments_are_checked_like_arg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text("h ansible_host=127.0.0.1 ansible_port=1 atomic_arg_asn=abc\n")
    assert main(["run", "T1590.005-5", "--inventory", str(inv), "--scope", SCOPE]) == 2
    assert "T1590.005-5: input argument asn must be an integer, got 'abc'" in capsys.readouterr().err

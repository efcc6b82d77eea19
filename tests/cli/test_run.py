"""``harness run`` over several targets: a dead target is ERROR for its own atomics, the others run on."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main

SCOPE = str(Path(__file__).resolve().parents[1] / "data" / "scope" / "lab-hosts.toml")


def test_each_unreachable_host_is_error_and_the_run_goes_on(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    inv = tmp_path / "inv.ini"
    # Ports 1 and 9 on loopback: nothing listens there, the connection is refused at once.
    inv.write_text("[dead]\ndead1 ansible_host=127.0.0.1 ansible_port=1\n"
                   "dead2 ansible_host=127.0.0.1 ansible_port=9 atomic_arg_target_range=198.51.100.64/28\n")
    assert main(["run", "T1590.005-3", "--inventory", str(inv), "--scope", SCOPE]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "== ssh://dead1" and out[2] == "== ssh://dead2"
    assert "ERROR" in out[1] and "target ssh://dead1: ssh://127.0.0.1:1: cannot connect" in out[1]
    assert "ERROR" in out[3] and "target ssh://dead2: ssh://127.0.0.1:9" in out[3]


def test_real_host_without_scope_refused_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "T1590.005-3", "--target", "ssh://root@127.0.0.1:1"]) == 2
    assert "is a real host, not a lab: a run against it needs a declared scope" in capsys.readouterr().err

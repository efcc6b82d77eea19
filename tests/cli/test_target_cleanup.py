"""`harness target cleanup URL`: what a killed run left on a target (here local://) is undone from its ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.lab.state import target_state


def test_cleanup_runs_pending_entries_and_removes_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECON_HARNESS_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "atomic-out.xml"
    out.write_text("<nmaprun/>")
    scratch = tmp_path / ".harness-cid"
    scratch.mkdir()
    (scratch / ".curlrc").write_text("user-agent = x\n")
    ledger = target_state("local://")
    tmp = ledger.tempdir("recon-harness-testinfra-", parent=tmp_path)
    ledger.record("target_path", str(scratch), target="local://")
    ledger.record("atomic_cleanup", "T1590.005-3", command=f"rm -f {out}", shell="sh", target="local://")

    assert main(["target", "status", "local://"]) == 0
    assert "atomic_cleanup T1590.005-3" in capsys.readouterr().out
    assert main(["target", "cleanup", "local://"]) == 0
    text = capsys.readouterr().out
    assert "pending cleanup of T1590.005-3 ran" in text and f"temp dir {tmp}" in text
    assert not out.exists() and not scratch.exists() and not tmp.exists()
    assert not ledger.path.exists()
    assert main(["target", "cleanup", "local://"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_a_failing_cleanup_is_reported_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RECON_HARNESS_STATE_DIR", str(tmp_path / "state"))
    target_state("local://").record("atomic_cleanup", "T-bad", command="echo nope >&2; exit 2", shell="sh")
    assert main(["target", "cleanup", "local://"]) == 1
    assert "T-bad exited 2: nope" in capsys.readouterr().out
    assert [r.name for r in target_state("local://").resources] == ["T-bad"]

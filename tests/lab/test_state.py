"""The state file: entries written before each step, merged across writers, never resurrected."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from harness.lab.state import LabState, target_key, target_state


def _doc(state_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((state_dir / "state.json").read_text())
    return doc


def test_record_is_on_disk_before_the_step(tmp_path: Path) -> None:
    state = LabState.open(tmp_path / "s", "lab")
    res = state.record("install", "theHarvester", paths=["/opt/x"], before=None)
    doc = _doc(tmp_path / "s")
    assert [(r["kind"], r["name"], r["data"]) for r in doc["resources"]] == [
        ("install", "theHarvester", {"paths": ["/opt/x"], "before": None})]
    assert doc["resources"][0]["id"] == res.id
    assert stat.S_IMODE(os.stat(tmp_path / "s" / "state.json").st_mode) == 0o600


def test_two_writers_merge_instead_of_overwriting(tmp_path: Path) -> None:
    lab = LabState.open(tmp_path, "lab")
    lab.record("netns", "rah-lab")
    ledger = LabState.load(tmp_path)
    assert ledger is not None
    lab.record("link", "rah-h0")            # written after the ledger read the file
    pending = ledger.record("atomic_cleanup", "T1", command="rm -f /tmp/x")
    assert [r.name for r in LabState.load(tmp_path).resources] == ["rah-lab", "rah-h0", "T1"]  # type: ignore[union-attr]
    ledger.discard(pending)
    assert [r.name for r in LabState.load(tmp_path).resources] == ["rah-lab", "rah-h0"]  # type: ignore[union-attr]


def test_a_torn_down_file_is_not_written_back(tmp_path: Path) -> None:
    ledger = LabState.open(tmp_path, "lab")
    ledger.record("netns", "rah-lab")
    (tmp_path / "state.json").unlink()      # `lab down` removed the state dir meanwhile
    ledger.record("tempdir", "/tmp/recon-harness-x")
    assert [r.name for r in LabState.load(tmp_path).resources] == ["/tmp/recon-harness-x"]  # type: ignore[union-attr]


def test_tempdir_is_recorded_then_created_private_and_removed(tmp_path: Path) -> None:
    state = LabState.open(tmp_path / "s", "lab")
    d = state.tempdir("recon-harness-telemetry-", parent=tmp_path)
    assert d.is_dir() and d.name.startswith("recon-harness-telemetry-")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert [(r.kind, r.name) for r in LabState.load(tmp_path / "s").resources] == [("tempdir", str(d))]  # type: ignore[union-attr]
    (d / "f").write_text("x")
    state.remove_tempdir(d)
    assert not d.exists() and LabState.load(tmp_path / "s").resources == []  # type: ignore[union-attr]


def test_target_ledger_is_keyed_by_url_without_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_HARNESS_STATE_DIR", str(tmp_path))
    a = target_state("ssh://root@10.0.0.5:22?identity_file=/k1")
    a.record("target_path", "/tmp/.harness-x")
    b = target_state("ssh://root@10.0.0.5:22?identity_file=/k2")
    assert [r.name for r in b.resources] == ["/tmp/.harness-x"]
    assert target_key("ssh://root@10.0.0.5:22") != target_key("ssh://root@10.0.0.6:22")
    assert b.path.parent.parent == tmp_path / "targets"


def test_a_target_ledger_leaves_no_file_once_nothing_is_pending(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECON_HARNESS_STATE_DIR", str(tmp_path))
    ledger = target_state("ssh://root@10.0.0.5:22")
    res = ledger.record("target_path", "/tmp/.harness-x")
    assert ledger.path.exists()
    ledger.discard(res)
    assert not ledger.path.exists() and not ledger.path.parent.exists()

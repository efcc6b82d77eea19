"""``harness nightly``: history in SQLite, regressions against the previous run, exit 1 on one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "recordings" / "embedded-lab"


def _nightly(tmp_path: Path, detections: Path) -> int:
    return main(["nightly", "--history", str(tmp_path / "h.sqlite"), "--evidence-dir", str(tmp_path / "ev"),
                 "--replay", str(RECORDING), "--detections", str(detections)])


def test_regression_is_reported_and_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not RECORDING.is_dir():
        pytest.skip("recording missing")
    assert _nightly(tmp_path, ROOT / "detections") == 0
    first = capsys.readouterr().out
    assert "no previous run on this target" in first
    assert _nightly(tmp_path, ROOT / "detections") == 0
    assert "no regression against" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _nightly(tmp_path, empty) == 1  # every ALERTED signal is lost
    out = capsys.readouterr().out
    assert "REGRESSION T1590.005-3 nmap-execve: ALERTED -> TELEMETRY_ONLY" in out
    con = sqlite3.connect(tmp_path / "h.sqlite")
    runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    alerted = con.execute("SELECT count(*) FROM verdicts WHERE verdict = 'ALERTED'").fetchone()[0]
    assert runs == 3 and alerted > 0
    assert len(list((tmp_path / "ev").iterdir())) == 3  # evidence of every run kept

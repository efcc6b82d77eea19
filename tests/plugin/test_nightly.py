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


def test_retention_keeps_the_newest_runs_signs_them_and_spares_other_directories(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil
    import subprocess

    from harness.evidence.signing import verify

    if not RECORDING.is_dir() or shutil.which("ssh-keygen") is None:
        pytest.skip("recording or ssh-keygen missing")
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    ev = tmp_path / "ev"
    (ev / "someone-elses-run").mkdir(parents=True)  # not in the history: never touched
    for _ in range(3):
        assert main(["nightly", "--history", str(tmp_path / "h.sqlite"), "--evidence-dir", str(ev), "--replay",
                     str(RECORDING), "--detections", str(ROOT / "detections"), "--sign-key", str(key),
                     "--keep-runs", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("retention: removed") == 1
    runs = sorted(p.name for p in ev.iterdir())
    assert len(runs) == 3 and "someone-elses-run" in runs
    con = sqlite3.connect(tmp_path / "h.sqlite")
    kept = [r[0] for r in con.execute("SELECT run_id FROM runs WHERE evidence IS NOT NULL ORDER BY started DESC")]
    assert len(kept) == 2 and all((ev / r).is_dir() for r in kept)
    assert all(verify(ev / r, Path(f"{key}.pub")).ok for r in kept)
    # --keep-days 0 removes every nightly run, still nothing else.
    assert main(["nightly", "--history", str(tmp_path / "h.sqlite"), "--evidence-dir", str(ev), "--replay",
                 str(RECORDING), "--detections", str(ROOT / "detections"), "--keep-days", "0"]) == 0
    assert sorted(p.name for p in ev.iterdir()) == ["someone-elses-run"]

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


def _doc(label: str, detections: Path = ROOT / "detections") -> dict[str, object]:
    from harness.evidence.runjson import build_document
    from harness.run import ValidationRun

    run = ValidationRun(target="netns://rah", label=label, detections=detections, replay=RECORDING)
    run.run_all()
    return build_document(run)


def test_an_old_history_gains_labels_as_its_regressions_were_keyed(tmp_path: Path) -> None:
    from harness.cli.nightly import open_history

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE runs (run_id TEXT PRIMARY KEY, started TEXT NOT NULL, ended TEXT NOT NULL, "
                      "target TEXT NOT NULL, mode TEXT NOT NULL, passed INTEGER NOT NULL, evidence TEXT);"
                      "INSERT INTO runs VALUES ('r1', '2026-12-01', '2026-12-01', 'netns://rah', 'live', 1, NULL);"
                      "INSERT INTO runs VALUES ('r2', '2026-12-02', '2026-12-02', 'netns://rah', 'replay', 1, NULL);")
    con.commit()
    con.close()
    con = open_history(path)
    rows = con.execute("SELECT run_id, label, fleet_id FROM runs ORDER BY run_id").fetchall()
    assert rows == [("r1", "netns://rah", None), ("r2", "replay:netns://rah", None)]
    con.close()
    open_history(path).close()  # a second open changes nothing


def test_a_fleets_history_is_kept_and_compared_per_target(tmp_path: Path) -> None:
    from harness.cli.nightly import apply_retention, open_history, previous_run, regressions, store

    if not RECORDING.is_dir():
        pytest.skip("recording missing")
    ev = tmp_path / "ev"
    empty = tmp_path / "empty"
    empty.mkdir()
    con = open_history(tmp_path / "h.sqlite")
    nights = [
        [_doc("ssh://lab-01"), _doc("ssh://lab-02")],
        [_doc("ssh://lab-01"), _doc("ssh://lab-02", detections=empty)],  # lab-02 loses every detection
    ]
    for night in nights:
        folder = ev / str(night[0]["run_id"])
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(f'{{"run_id": "{night[0]["run_id"]}"}}')
        for doc in night:
            store(con, doc, str(folder), str(night[0]["run_id"]))
    first, second = nights
    for old, new in zip(first, second, strict=True):
        assert previous_run(con, str(new["run_id"]), str(new["target"]["label"])) == old["run_id"]  # type: ignore[index]
    assert regressions(con, str(second[0]["run_id"]), str(first[0]["run_id"])) == []
    lost = regressions(con, str(second[1]["run_id"]), str(first[1]["run_id"]))
    assert ("T1590.005-3", "nmap-execve", "ALERTED", "TELEMETRY_ONLY") in lost
    # retention counts a fleet's folder once, and forgets it for all of the fleet's targets
    assert apply_retention(con, ev, keep_runs=1, keep_days=None) == [ev / str(first[0]["run_id"])]
    assert sorted(p.name for p in ev.iterdir()) == [second[0]["run_id"]]
    gone = con.execute("SELECT count(*) FROM runs WHERE evidence IS NULL").fetchone()[0]
    assert gone == 2
    con.close()


def test_replay_is_one_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["nightly", "--history", str(tmp_path / "h.sqlite"), "--evidence-dir", str(tmp_path / "ev"),
                 "--replay", str(RECORDING), "--target", "netns://a", "--target", "netns://b"])
    assert code == 2 and "--replay judges one recording" in capsys.readouterr().err
    assert not (tmp_path / "h.sqlite").exists()

"""`harness nightly --art`: ART coverage kept in the history and compared night to night."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.cli._nightly_art import previous, store
from harness.evidence.coverage import diff_coverage

ROOT = Path(__file__).resolve().parents[2]
ART = ROOT / "tests" / "data" / "art" / "atomics"
SCOPE = ROOT / "tests" / "data" / "scope" / "lab-services.toml"
HOST = "ssh://root@lab.example.test?disposable=1"


def test_two_nights_on_a_host_are_stored_and_compared(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # powershell and manual tests: recorded NOT_RUN, nothing sent to the (unreachable) host
    argv = ["nightly", "--history", str(tmp_path / "h.sqlite"), "--evidence-dir", str(tmp_path / "ev"), "--art",
            str(ART), "--art-test", "T1027.013-1", "--art-test", "T1048.003-1", "--target", HOST, "--scope", str(SCOPE)]
    assert main(argv) == 0
    assert "no previous ART run on this target" in capsys.readouterr().out
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "against " in out and "no change between" in out
    folders = sorted((tmp_path / "ev").iterdir())
    assert len(folders) == 2 and all((f / "coverage.json").is_file() for f in folders)
    con = sqlite3.connect(tmp_path / "h.sqlite")
    assert con.execute("SELECT COUNT(*) FROM art_coverage").fetchone()[0] == 4


def test_the_embedded_lab_is_refused_for_an_art_night(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nightly", "--history", str(tmp_path / "h.sqlite"), "--art", str(ART), "--target",
                 "netns://rah"]) == 2
    assert "shares this machine's filesystem" in capsys.readouterr().err


def _doc(run_id: str, started: str, rules: list[dict[str, Any]], coverage: str) -> dict[str, Any]:
    return {"run_id": run_id, "started": started, "rule_set": {"sha256": "a" * 64},
            "tests": [{"test_id": "T1087.001-1", "coverage": coverage, "rules": rules}]}


def test_a_rule_lost_since_the_previous_night_is_a_regression(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "h.sqlite")
    rule = {"rule_id": "b45e3d6f", "title": "Local System Accounts Discovery", "on_control": False,
            "events": [{"CommandLine": "cat /etc/passwd"}]}
    store(con, "vagrant://default", _doc("n1", "2026-12-03T02:30:00Z", [rule], "DETECTED"), tmp_path / "n1")
    store(con, "vagrant://default", _doc("n2", "2026-12-04T02:30:00Z", [], "NOT_DETECTED"), tmp_path / "n2")
    before = previous(con, "vagrant://default", "n2")
    assert before is not None and before["run_id"] == "n1"
    assert "events" not in json.dumps(before)  # the history keeps rules, not the events
    diff = diff_coverage(before, _doc("n2", "2026-12-04T02:30:00Z", [], "NOT_DETECTED"))
    assert diff.regressed and diff.changes[0].lost == ("b45e3d6f",)
    assert previous(con, "ssh://other", "n2") is None

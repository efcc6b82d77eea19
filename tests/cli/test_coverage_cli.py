"""``harness coverage diff`` and ``harness coverage report``: exit codes, output shapes, located errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.evidence.bundle import verify_manifest
from harness.evidence.coverage import build_document, write_coverage
from harness.verdicts.coverage import Coverage, RuleHit, TestCoverage

SHADOW = RuleHit("b45e3d6f-42c6-47d8-a478-df6bd6cf534c", "Local System Accounts Discovery - Linux", "low", 2,
                 ({"Image": "/usr/bin/cat", "CommandLine": "cat /etc/shadow"},))
NOISE = RuleHit("ea34fb97-e2c4-4afb-810f-785e4459b194", "fires on the control too", "low", 1, (), on_control=True)


def _test(test_id: str, coverage: Coverage, rules: tuple[RuleHit, ...] = ()) -> TestCoverage:
    return TestCoverage(test_id=test_id, guid="g", technique=test_id.rpartition("-")[0], name=f"test {test_id}",
                        target="vagrant://default", status="EXECUTED", coverage=coverage, telemetry={"auditd": 4},
                        rules=rules, cleanup="ok", timings={"total_s": 12.5})


def _write(out: Path, run_id: str, *tests: TestCoverage) -> Path:
    doc: dict[str, Any] = build_document(
        list(tests), run_id=run_id, started="2026-12-04T10:00:00.000Z", ended="2026-12-04T10:05:00.000Z",
        target="vagrant://default", atomics_root="atomics",
        rule_set={"path": "rules/linux", "rules": 2, "sha256": "b" * 64, "load_problems": []},
        reset={"kind": "snapshot", "resets": len(tests), "median_s": 9.0},
        control={"status": "EXECUTED", "rules": [NOISE.rule_id]})
    write_coverage(out, doc)
    return out / "coverage.json"


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    """Two runs: in the second T1003.008-3 is newly detected (a gain, no loss)."""
    old = _write(tmp_path / "old", "r1", _test("T1003.008-1", Coverage.DETECTED, (SHADOW,)),
                 _test("T1003.008-3", Coverage.NOT_DETECTED, (NOISE,)))
    new = _write(tmp_path / "new", "r2", _test("T1003.008-1", Coverage.DETECTED, (SHADOW,)),
                 _test("T1003.008-3", Coverage.DETECTED, (SHADOW, NOISE)))
    return old, new


def test_diff_without_regression_exits_0(runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = runs
    assert main(["coverage", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("change     T1003.008-3: NOT_DETECTED -> DETECTED; gained " + SHADOW.rule_id)
    assert out[-1] == "1 test(s) changed: 0 rule(s) lost, 1 gained"
    assert main(["coverage", "diff", str(old), str(old.parent)]) == 0  # a directory stands for its coverage.json
    assert capsys.readouterr().out.strip() == "no change between r1 and r1"


def test_diff_with_lost_coverage_exits_1(runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = runs
    assert main(["coverage", "diff", str(new), str(old)]) == 1
    assert "REGRESSION T1003.008-3: DETECTED -> NOT_DETECTED; lost " + SHADOW.rule_id in capsys.readouterr().out
    assert main(["coverage", "diff", str(new), str(old), "--json"]) == 1
    diff = json.loads(capsys.readouterr().out)
    assert diff["regressed"] is True and (diff["old_run"], diff["new_run"]) == ("r2", "r1")
    assert diff["changes"] == [{"test_id": "T1003.008-3", "before": "DETECTED", "after": "NOT_DETECTED",
                                "gained": [], "lost": [SHADOW.rule_id], "regressed": True}]
    assert diff["added"] == [] and diff["removed"] == []


def test_bad_input_exits_2_with_the_located_error(runs: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = runs
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "recon-harness/coverage/1",\n "run_id": ,}\n')
    assert main(["coverage", "diff", str(old), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: error: {bad}:2:12: not JSON")
    bad.write_text(json.dumps({"schema": "recon-harness/coverage/2"}))
    assert main(["coverage", "diff", str(bad), str(old), "--json"]) == 2
    captured = capsys.readouterr()
    assert f"{bad}: " in captured.err and captured.out == ""
    assert main(["coverage", "report", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse's own usage error: exit 2 too
        main(["coverage", "diff", str(old)])
    assert usage.value.code == 2


def test_report_re_renders_and_reseals(runs: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    old, _ = runs
    html = (old.parent / "report.html").read_text()
    (old.parent / "report.html").write_text("stale")
    (old.parent / "navigator.json").unlink()
    assert main(["coverage", "report", str(old)]) == 0  # beside the file by default
    assert (old.parent / "report.html").read_text() == html and verify_manifest(old.parent) == []
    layer = json.loads((old.parent / "navigator.json").read_text())
    assert [(t["techniqueID"], t["score"]) for t in layer["techniques"]] == [("T1003.008", 50)]
    again = tmp_path / "again"
    assert main(["coverage", "report", str(old.parent), "-o", str(again)]) == 0
    assert f"wrote {again / 'report.html'}" in capsys.readouterr().out
    assert (again / "report.html").read_text() == html and verify_manifest(again) == []
    assert json.loads((again / "coverage.json").read_text()) == json.loads(old.read_text())

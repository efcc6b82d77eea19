"""ART coverage evidence (harness.evidence.coverage): the document and its schema, the technique ×
test matrix, the Navigator scores, the diff a CI job fails on, and `harness coverage` itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.errors import ConfigError
from harness.evidence.coverage import (
    build_document,
    coverage_layer,
    diff_coverage,
    load_coverage,
    render_coverage_report,
    render_diff_text,
    validate,
    write_coverage,
)
from harness.verdicts.coverage import Coverage, RuleHit, TestCoverage

SHADOW = RuleHit("b45e3d6f-42c6-47d8-a478-df6bd6cf534c", "Local System Accounts Discovery - Linux", "low", 2,
                 ({"Image": "/usr/bin/cat", "CommandLine": "cat /etc/shadow"},))
SCRIPT = RuleHit("30bcce26-51c5-49f2-99c8-7b59e3af36c7", "Execution Of Script Located In Potentially Suspicious "
                 "Directory", "medium", 4, ({"CommandLine": "sh -c cat /tmp/x"},))
NOISE = RuleHit("ea34fb97-e2c4-4afb-810f-785e4459b194", "fires on the control too", "low", 1, (), on_control=True)


def _test(test_id: str, coverage: Coverage, rules: tuple[RuleHit, ...] = (), name: str = "a test",
          reason: str = "") -> TestCoverage:
    executed = coverage in (Coverage.DETECTED, Coverage.NOT_DETECTED)
    return TestCoverage(test_id=test_id, guid="g", technique=test_id.rpartition("-")[0], name=name,
                        target="vagrant://default", status="EXECUTED" if executed else coverage.value,
                        coverage=coverage, reason=reason, telemetry={"auditd": 5, "sysmon": 3} if executed else {},
                        rules=rules, cleanup="ok" if executed else "", timings={"reset_s": 10.0, "total_s": 20.0})


def _doc(tests: list[TestCoverage], run_id: str = "r1") -> dict[str, Any]:
    return build_document(
        tests, run_id=run_id, started="2026-12-04T10:00:00Z", ended="2026-12-04T10:05:00Z",
        target="vagrant://default", atomics_root="tests/data/art/atomics",
        rule_set={"path": "rules/linux", "rules": 210, "sha256": "a" * 64, "load_problems": []},
        reset={"kind": "snapshot", "resets": len(tests), "median_s": 10.0},
        control={"status": "EXECUTED", "rules": [NOISE.rule_id]})


SAMPLE = [
    _test("T1003.008-1", Coverage.DETECTED, (SHADOW, SCRIPT, NOISE)),
    _test("T1003.008-3", Coverage.NOT_DETECTED, (NOISE,)),
    _test("T1016-3", Coverage.PREREQ_MISSING, reason="prerequisite missing: arp"),
    _test("T1027.013-1", Coverage.NOT_RUN, reason="not applicable: executor powershell"),
    _test("T1222.002-1", Coverage.EXECUTION_FAILED, reason="exit code 1"),
]


def test_document_counts_and_validates() -> None:
    doc = _doc(SAMPLE)
    validate(doc)
    assert doc["summary"]["DETECTED"] == 1 and doc["summary"]["NOT_RUN"] == 1 and doc["summary"]["TIMED_OUT"] == 0
    assert doc["timing"] == {"tests": 5, "executed": 4, "per_test_s_median": 20.0, "total_s": 80.0}
    assert doc["tests"][0]["summary"] == "detected by 2 rules"  # the control's rule not counted
    bad = json.loads(json.dumps(doc))
    bad["tests"][0]["coverage"] = "SEEN"
    with pytest.raises(ConfigError, match="tests/0/coverage"):
        validate(bad)


def test_written_evidence_is_sealed_and_reads_back(tmp_path: Path) -> None:
    written = write_coverage(tmp_path, _doc(SAMPLE), secrets=["cat /etc/shadow"])
    assert [p.name for p in written] == ["coverage.json", "report.html", "navigator.json", "MANIFEST.sha256"]
    assert "cat /etc/shadow" not in (tmp_path / "coverage.json").read_text()  # redacted like all evidence
    assert load_coverage(tmp_path / "coverage.json")["run_id"] == "r1"


def test_bad_coverage_files_are_located_errors(tmp_path: Path) -> None:
    broken = tmp_path / "coverage.json"
    broken.write_text('{\n  "schema": "recon-harness/coverage/1",\n  "run_id": x\n}\n')
    with pytest.raises(ConfigError) as info:
        load_coverage(broken)
    assert str(info.value.location) == f"{broken}:3:13"
    broken.write_text(json.dumps({"schema": "recon-harness/coverage/1"}))
    with pytest.raises(ConfigError, match="is a required property"):
        load_coverage(broken)


def test_matrix_has_a_row_per_technique_and_a_linked_cell_per_test() -> None:
    html = render_coverage_report(_doc([*SAMPLE, _test("T1003.008-2", Coverage.TIMED_OUT, name="<script>x")]))
    row = html[html.index("<th>T1003.008</th>"):].split("</tr>", 1)[0]
    assert row.count("<td") == 3 and "#1 detected (2)" in row and "#3 not detected" in row
    assert "#2 failed (timed out)" in row and 'href="#T1003.008-1"' in row
    assert "<th>T1016</th>" in html and "prerequisite missing" in html and "#1 not run" in html
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "also fires on the negative control" in html and "cat /etc/shadow" in html


def test_navigator_scores_the_share_of_judged_tests_detected() -> None:
    layer = coverage_layer(_doc(SAMPLE))
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert by_id["T1003.008"]["score"] == 50  # one of two judged tests detected
    assert "score" not in by_id["T1016"] and by_id["T1016"]["comment"].startswith("no test judged")
    assert layer["gradient"]["maxValue"] == 100 and layer["versions"]["layer"] == "4.5"


def test_diff_reports_lost_and_gained_rules_and_lost_detections() -> None:
    old = _doc(SAMPLE)
    new = _doc([_test("T1003.008-1", Coverage.DETECTED, (SHADOW, NOISE)),
                _test("T1003.008-3", Coverage.DETECTED, (SCRIPT,)),
                _test("T1016-3", Coverage.PREREQ_MISSING), _test("T1082-3", Coverage.NOT_DETECTED)], "r2")
    diff = diff_coverage(old, new)
    changes = {c.test_id: c for c in diff.changes}
    assert changes["T1003.008-1"].lost == (SCRIPT.rule_id,) and changes["T1003.008-1"].regressed
    assert changes["T1003.008-3"].gained == (SCRIPT.rule_id,) and not changes["T1003.008-3"].regressed
    assert changes["T1027.013-1"].after is None and changes["T1082-3"].before is None
    assert "T1016-3" not in changes and diff.regressed
    text = render_diff_text(diff)
    assert f"REGRESSION T1003.008-1: DETECTED; lost {SCRIPT.rule_id}" in text
    # a DETECTED test that stops being detected is a regression even with no rule named before
    assert diff_coverage(_doc([_test("T1-1", Coverage.DETECTED, (NOISE,))]),
                         _doc([_test("T1-1", Coverage.ERROR)])).regressed
    # rules on the control never count, gained or lost
    assert not diff_coverage(_doc([_test("T1-1", Coverage.NOT_DETECTED, (NOISE,))]),
                             _doc([_test("T1-1", Coverage.NOT_DETECTED)])).changes
    assert "no change" in render_diff_text(diff_coverage(old, old))


def test_cli_diff_exit_codes_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_coverage(a, _doc(SAMPLE))
    write_coverage(b, _doc([SAMPLE[0], _test("T1003.008-3", Coverage.DETECTED, (SHADOW,))], "r2"))
    assert main(["coverage", "diff", str(a), str(b / "coverage.json")]) == 0  # gained only
    assert "gained" in capsys.readouterr().out
    assert main(["coverage", "diff", str(b), str(a), "--json"]) == 1  # the other way round: lost
    assert json.loads(capsys.readouterr().out)["regressed"] is True
    (tmp_path / "bad.json").write_text("[")
    assert main(["coverage", "diff", str(a), str(tmp_path / "bad.json")]) == 2
    assert f"{tmp_path / 'bad.json'}:1:2" in capsys.readouterr().err
    assert main(["coverage", "report", str(a), "-o", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.html").read_text() == (a / "report.html").read_text()

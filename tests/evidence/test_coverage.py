"""ART coverage evidence (harness.evidence.coverage): the document and its schema, the technique ×
test matrix, the Navigator scores and the diff a CI job fails on (the CLI: tests/cli/test_coverage_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.evidence.coverage import (
    EVENTS_SHOWN,
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


@pytest.mark.parametrize("spoil", [
    lambda d: d["summary"].update(SEEN=1),  # only the Coverage values are counted
    lambda d: d["summary"].pop("TIMED_OUT"),  # and every one of them is present
    lambda d: d.update(started="04/12/2026 10:00"),  # ISO 8601 only
    lambda d: d["rule_set"].update(sha256="abc"),
    lambda d: d["tests"][1]["rules"][0].pop("on_control"),
    lambda d: d["tests"].append(dict(d["tests"][0])),  # a test listed twice
], ids=["unknown-value", "missing-value", "not-iso", "short-digest", "rule-without-on_control", "duplicate-test"])
def test_schema_rejects_spoiled_documents(spoil: Any) -> None:
    doc = json.loads(json.dumps(_doc(SAMPLE)))
    validate(doc)
    spoil(doc)
    with pytest.raises(ConfigError):
        validate(doc)


def test_schema_enumerates_every_coverage_value() -> None:
    from harness.evidence.coverage import coverage_schema

    schema = coverage_schema()
    assert schema["$defs"]["coverage"]["enum"] == [c.value for c in Coverage]
    assert sorted(schema["properties"]["summary"]["required"]) == sorted(c.value for c in Coverage)
    assert _doc(SAMPLE)["ended"] is not None
    validate({**_doc(SAMPLE), "ended": None, "started": "2026-12-04T10:00:00.123+01:00"})  # unfinished, offset


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
    assert str(info.value).startswith(f"{broken}:3:13: not JSON")
    broken.write_text(json.dumps({"schema": "recon-harness/coverage/1"}))
    with pytest.raises(ConfigError, match="is a required property") as info:
        load_coverage(broken)
    assert info.value.location is not None and info.value.location.path == str(broken)
    broken.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_coverage(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        load_coverage(tmp_path / "absent.json")


def test_matrix_has_a_row_per_technique_and_a_linked_cell_per_test() -> None:
    html = render_coverage_report(_doc([*SAMPLE, _test("T1003.008-2", Coverage.TIMED_OUT, name="<script>x")]))
    row = html[html.index("<th>T1003.008</th>"):].split("</tr>", 1)[0]
    assert row.count("<td") == 3 and "#1 detected (2)" in row and "#3 not detected" in row
    assert "#2 failed (timed out)" in row and 'href="#T1003.008-1"' in row
    # cells in test-number order whatever the document's order, each linked to its section
    assert row.index("#1 detected") < row.index("#2 failed") < row.index("#3 not detected")
    for tid in ("T1003.008-1", "T1003.008-2", "T1003.008-3", "T1016-3", "T1222.002-1"):
        assert f'href="#{tid}"' in html and f"id='{tid}'" in html
    assert 'title="a test: detected by 2 rules"' in row
    assert "#1 failed</a>" in html  # EXECUTION_FAILED
    assert html.count("<tr><th>T") == 4  # one row per technique
    assert "<th>T1016</th>" in html and "prerequisite missing" in html and "#1 not run" in html
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "also fires on the negative control" in html and "cat /etc/shadow" in html
    assert "auditd 5, sysmon 3" in html and "cleanup ok" in html and "prerequisite missing: arp" in html
    assert "<link" not in html and "<script" not in html and "Content-Security-Policy" in html


def test_events_from_the_file_are_escaped_and_capped() -> None:
    evil = RuleHit("r-1", "<img src=x onerror=alert(1)>", "high", 9,
                   tuple({"CommandLine": f"</pre><script>{i}</script>" + "A" * 5000} for i in range(5)))
    html = render_coverage_report(_doc([_test("T1059.004-1", Coverage.DETECTED, (evil,))]))
    assert "<script>" not in html and "<img" not in html and "&lt;img src=x" in html
    assert html.count("&lt;/pre&gt;&lt;script&gt;") == EVENTS_SHOWN and "2 more not shown" in html
    assert "A" * 2000 not in html.replace("\n", "")  # each event cut


def test_navigator_scores_the_share_of_judged_tests_detected() -> None:
    layer = coverage_layer(_doc(SAMPLE))
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert by_id["T1003.008"]["score"] == 50  # one of two judged tests detected
    assert "score" not in by_id["T1016"] and by_id["T1016"]["comment"].startswith("no test judged")
    assert layer["gradient"]["maxValue"] == 100 and layer["versions"]["layer"] == "4.5"
    assert layer["gradient"]["minValue"] == 0 and len(layer["techniques"]) == 4
    assert "T1003.008-1 detected by 2 rules" in by_id["T1003.008"]["comment"]
    assert "T1016-3 PREREQ_MISSING" in by_id["T1016"]["comment"]
    all_seen = coverage_layer(_doc([_test("T1082-1", Coverage.DETECTED, (SHADOW,)),
                                    _test("T1082-2", Coverage.DETECTED, (SCRIPT,)),
                                    _test("T1082-3", Coverage.ERROR)]))
    assert all_seen["techniques"][0]["score"] == 100  # the ERROR test is not judged, so not counted
    assert coverage_layer(_doc([_test("T1082-1", Coverage.NOT_DETECTED)]))["techniques"][0]["score"] == 0


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
    assert diff.added == ("T1082-3",) and diff.removed == ("T1027.013-1", "T1222.002-1")
    assert diff.to_dict()["removed"] == ["T1027.013-1", "T1222.002-1"] and diff.to_dict()["regressed"] is True
    # a newly detected test is not a regression, nor is a new test
    up = diff_coverage(_doc([_test("T1-1", Coverage.NOT_DETECTED)]),
                       _doc([_test("T1-1", Coverage.DETECTED, (SHADOW,)), _test("T1-2", Coverage.DETECTED)]))
    assert [(c.test_id, c.before, c.after) for c in up.changes] == [("T1-1", "NOT_DETECTED", "DETECTED"),
                                                                    ("T1-2", None, "DETECTED")]
    assert not up.regressed and up.changes[0].gained == (SHADOW.rule_id,)
    # a detected test dropped from the run: its coverage is gone
    assert diff_coverage(_doc([_test("T1-1", Coverage.DETECTED, (SHADOW,))]), _doc([])).regressed
    text = render_diff_text(diff)
    assert f"REGRESSION T1003.008-1: DETECTED; lost {SCRIPT.rule_id}" in text
    # a DETECTED test that stops being detected is a regression even with no rule named before
    assert diff_coverage(_doc([_test("T1-1", Coverage.DETECTED, (NOISE,))]),
                         _doc([_test("T1-1", Coverage.ERROR)])).regressed
    # rules on the control never count, gained or lost
    assert not diff_coverage(_doc([_test("T1-1", Coverage.NOT_DETECTED, (NOISE,))]),
                             _doc([_test("T1-1", Coverage.NOT_DETECTED)])).changes
    assert not diff_coverage(_doc([_test("T1-1", Coverage.DETECTED, (SHADOW,))]),
                             _doc([_test("T1-1", Coverage.DETECTED, (SHADOW, NOISE))])).changes
    assert "no change" in render_diff_text(diff_coverage(old, old))

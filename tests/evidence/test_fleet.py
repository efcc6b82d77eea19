"""One evidence set for a run over several targets: run.json with each target's record and the
matrix, validated against the fleet schema (which refers to run.schema.json), the matrix report,
one JUnit testsuite per target, one Navigator score, one ATTiRe log per target, the manifest."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from harness.evidence import attire_schema, verify_manifest
from harness.evidence.fleet import build_fleet_document, fleet_validator, write_fleet_evidence
from harness.evidence.runjson import build_document
from harness.run import ValidationRun

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "recordings" / "embedded-lab"
SECRET = "SECRET-shodan-key-0123456789"


@pytest.fixture(scope="module")
def docs(replayed_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The no-Sysmon replay (one target) and the full recording replayed as a second target judged
    with no detections at all (every rule missing, as on a host whose rules were not deployed), so
    the fleet does not pass. One reason text carries markup and a secret, for the writers."""
    empty = tmp_path_factory.mktemp("no-detections")
    run = ValidationRun(target="netns://rah", label="ssh://lab-07", detections=empty, replay=RECORDING)
    run.run_all()
    second = build_document(run)
    nmap = next(a for a in second["atomics"] if a["id"] == "T1590.005-3")
    nmap["verdict_reason"] = f"rule did not match <b> {SECRET}"
    return [replayed_document, second]


@pytest.fixture(scope="module")
def fleet(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return build_fleet_document(docs)


@pytest.fixture(scope="module")
def evidence(fleet: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet-evidence")
    write_fleet_evidence(fleet, out, secrets=[SECRET])
    return out


def test_fleet_run_json_validates_and_holds_every_target(evidence: Path, docs: list[dict[str, Any]]) -> None:
    data = json.loads((evidence / "run.json").read_text())
    validator = fleet_validator()
    validator.check_schema(validator.schema)
    validator.validate(data)
    labels = [d["target"]["label"] for d in docs]
    assert list(data["matrix"]) == labels == list(data["summary"]["by_target"])
    assert [t["target"]["label"] for t in data["targets"]] == labels
    ids = {f"T1590.005-{n}" for n in range(1, 6)} | {"negative-control"}
    assert all(set(row) == ids for row in data["matrix"].values())
    assert data["matrix"][labels[1]]["T1590.005-3"] == "TELEMETRY_ONLY"
    assert data["summary"]["by_target"][labels[0]]["passed"] is True
    assert data["summary"]["passed"] is False and data["summary"]["targets"] == 2


def test_fleet_schema_checks_each_target_against_run_schema(fleet: dict[str, Any]) -> None:
    validator = fleet_validator()
    broken = copy.deepcopy(fleet)
    broken["targets"][1]["atomics"][0]["signals"][0]["verdict"] = "PASSED_PROBABLY"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
    one = copy.deepcopy(fleet)
    one["targets"] = one["targets"][:1]
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(one)
    bad_cell = copy.deepcopy(fleet)
    next(iter(bad_cell["matrix"].values()))["T1590.005-1"] = "GREEN"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(bad_cell)


def test_a_fleet_needs_two_distinct_targets(docs: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="two or more"):
        build_fleet_document(docs[:1])
    with pytest.raises(ValueError, match="same label"):
        build_fleet_document([docs[0], docs[0]])


def test_every_file_is_written_and_sealed(evidence: Path, tmp_path: Path) -> None:
    names = sorted(str(p.relative_to(evidence)) for p in evidence.rglob("*") if p.is_file())
    assert names == ["MANIFEST.sha256", "attire/01-replay_netns_rah.json", "attire/02-replay_ssh_lab-07.json",
                     "junit.xml", "navigator-layer.json", "report.html", "run.json"]
    assert verify_manifest(evidence) == []
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--check", "--quiet", "MANIFEST.sha256"], cwd=evidence, check=True)
    copy_dir = tmp_path / "copy"
    shutil.copytree(evidence, copy_dir)
    (copy_dir / "attire" / "01-replay_netns_rah.json").write_text("{}")
    assert verify_manifest(copy_dir) == ["attire/01-replay_netns_rah.json: SHA-256 differs"]


def test_no_secret_in_any_file(fleet: dict[str, Any], tmp_path: Path) -> None:
    write_fleet_evidence(fleet, tmp_path, secrets=[SECRET])
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert SECRET not in p.read_text(), p


def test_junit_has_a_suite_per_target_naming_it_in_each_case(evidence: Path, docs: list[dict[str, Any]]) -> None:
    suites = ET.parse(evidence / "junit.xml").getroot().findall("testsuite")
    labels = [d["target"]["label"] for d in docs]
    assert [s.get("hostname") for s in suites] == labels
    for suite, label in zip(suites, labels, strict=True):
        cases = suite.findall("testcase")
        assert cases and len(cases) == int(suite.get("tests", "-1"))
        assert all(str(c.get("classname")).endswith(f"@{label}") for c in cases)
    failing = [[c for c in s.findall("testcase") if c.find("failure") is not None] for s in suites]
    assert failing[0] == [] and failing[1], "the target without detections has failing cases, the other none"


def test_navigator_scores_targets_where_every_atomic_passed(evidence: Path) -> None:
    layer = json.loads((evidence / "navigator-layer.json").read_text())
    (technique, *_) = layer["techniques"]
    assert technique["score"] == 1 and layer["gradient"]["maxValue"] == 2
    assert "replay:ssh://lab-07: TELEMETRY_ONLY" in technique["comment"]
    meta = {m["name"]: m["value"] for m in technique["metadata"]}
    assert meta["T1590.005-3@replay:ssh://lab-07"].startswith("TELEMETRY_ONLY (")
    assert meta["T1590.005-3@replay:netns://rah"].startswith("ALERTED (")


def test_attire_logs_validate(evidence: Path) -> None:
    schema = attire_schema()
    logs = sorted((evidence / "attire").glob("*.json"))
    assert len(logs) == 2
    for p in logs:
        jsonschema.validate(json.loads(p.read_text()), schema)


def test_report_has_the_matrix_above_each_target(evidence: Path, docs: list[dict[str, Any]]) -> None:
    html = (evidence / "report.html").read_text()
    matrix = html.index("Targets × atomics")
    first, second = html.index('<h2 id="t0"'), html.index('<h2 id="t1"')
    assert matrix < first < second
    assert 'href="#t1-T1590.005-3"' in html and 'id="t1-T1590.005-3"' in html  # matrix cell -> details
    assert "<b> SECRET" not in html and "&lt;b&gt;" in html  # escaped (and the secret redacted)


def test_each_target_heading_has_its_worst_atomic_colour(evidence: Path, docs: list[dict[str, Any]]) -> None:
    """The second target fails (no detections): its heading is not the passing green, although its
    negative control is CLEAN (a verdict the order once did not know, and so ranked worst)."""
    from harness.evidence.formats import worst_verdict
    from harness.evidence.report import COLOURS

    html = (evidence / "report.html").read_text()
    assert worst_verdict(["TELEMETRY_ONLY", "CLEAN"]) == "TELEMETRY_ONLY"
    for n, doc in enumerate(docs):
        worst = worst_verdict([a["verdict"] for a in doc["atomics"]])
        assert f'<h2 id="t{n}" style="border-color:{COLOURS[worst]}">' in html, (n, worst)
    assert worst_verdict([a["verdict"] for a in docs[1]["atomics"]]) not in ("ALERTED", "CLEAN")

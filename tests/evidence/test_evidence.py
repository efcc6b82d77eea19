"""Every evidence file of a run, validated: run.json against its schema, JUnit parsed, the Navigator
layer's format, ATTiRe against its published schema, the manifest with ``sha256sum -c``, secrets
redacted and HTML escaped. Built from the committed embedded-lab recording (no root, no lab)."""

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

from harness.evidence import attire_schema, render_report, run_schema, verify_manifest, write_evidence

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "recordings" / "embedded-lab"


@pytest.fixture(scope="module")
def doc(replayed_document: dict[str, Any]) -> dict[str, Any]:
    return replayed_document


@pytest.fixture(scope="module")
def evidence(doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evidence")
    write_evidence(doc, out, secrets=["SECRET-shodan-key-0123456789"])
    return out


def test_every_evidence_file_is_written(evidence: Path) -> None:
    names = sorted(p.name for p in evidence.iterdir())
    assert names == ["MANIFEST.sha256", "attire.json", "junit.xml", "navigator-layer.json", "report.html", "run.json"]


def test_run_json_validates_against_its_schema(evidence: Path) -> None:
    data = json.loads((evidence / "run.json").read_text())
    schema = run_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert {a["id"] for a in data["atomics"]} == {f"T1590.005-{n}" for n in range(1, 6)}
    assert data["negative_control"]["id"] == "negative-control"
    # detection files are fingerprinted, commands carry exit codes and output hashes
    assert any(f["path"].endswith(".kql") for f in data["detections"]["files"])
    nmap = next(a for a in data["atomics"] if a["id"] == "T1590.005-3")
    det = next(c for c in nmap["commands"] if c["phase"] == "detonate")
    assert det["exit_code"] == 0 and len(det["stdout_sha256"]) == 64 and "nmap -sn" in det["command"]
    assert data["target"]["sensors"] and data["target"]["facts"].get("kernel")


def test_run_json_schema_rejects_a_broken_record(evidence: Path) -> None:
    data = json.loads((evidence / "run.json").read_text())
    data["atomics"][0]["signals"][0]["verdict"] = "PASSED_PROBABLY"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, run_schema(), cls=jsonschema.Draft202012Validator)


def test_junit_parses_and_counts_match(evidence: Path, doc: dict[str, Any]) -> None:
    root = ET.parse(evidence / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    signals = [s for a in [*doc["atomics"], doc["negative_control"]] for s in a["signals"]]
    assert len(cases) == len(signals) == int(suite.get("tests", "-1"))
    failed = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    assert failed == int(suite.get("failures", "-1")) and skipped == int(suite.get("skipped", "-1"))
    expected_skips = sum(1 for s in signals if s["verdict"] in ("SENSOR_UNAVAILABLE", "PREREQ_MISSING"))
    assert skipped == expected_skips > 0


def test_navigator_layer_format_4_5(evidence: Path) -> None:
    layer = json.loads((evidence / "navigator-layer.json").read_text())
    assert layer["versions"]["layer"] == "4.5" and layer["domain"] == "enterprise-attack"
    tech = next(t for t in layer["techniques"] if t["techniqueID"] == "T1590.005")
    assert tech["tactic"] == "reconnaissance" and tech["color"].startswith("#")
    assert {m["name"] for m in tech["metadata"]} >= {f"T1590.005-{n}" for n in range(1, 6)}
    for item in layer["legendItems"]:
        assert set(item) == {"label", "color"}
    # required top-level keys of the layer format
    assert {"name", "versions", "domain", "techniques"} <= set(layer)


def test_attire_validates_against_the_published_schema(evidence: Path) -> None:
    log = json.loads((evidence / "attire.json").read_text())
    jsonschema.validate(log, attire_schema())
    assert log["attire-version"] == "1.1"
    names = [p["procedure-name"] for p in log["procedures"]]
    assert any(n.startswith("T1590.005-3") for n in names)
    bad = dict(log)
    del bad["procedures"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, attire_schema())


def test_manifest_verifies_with_sha256sum(evidence: Path, tmp_path: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum not installed")
    res = subprocess.run(["sha256sum", "-c", "MANIFEST.sha256"], cwd=evidence, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(": OK") == 5
    assert verify_manifest(evidence) == []
    tampered = tmp_path / "copy"
    shutil.copytree(evidence, tampered)
    (tampered / "run.json").write_text("{}")
    res = subprocess.run(["sha256sum", "-c", "MANIFEST.sha256"], cwd=tampered, capture_output=True, text=True)
    assert res.returncode != 0 and verify_manifest(tampered) == ["run.json: SHA-256 differs"]


def test_secrets_are_redacted_in_every_file(doc: dict[str, Any], tmp_path: Path) -> None:
    secret = "SECRET-shodan-key-0123456789"
    leaky = json.loads(json.dumps(doc))
    leaky["atomics"][0]["commands"][0]["command"] = f"shodan init {secret}"
    leaky["target"]["facts"]["note"] = f"proxy http://user:{secret}@198.51.100.3:3128 ?key={secret}"
    write_evidence(leaky, tmp_path, secrets=[secret])
    for p in tmp_path.iterdir():
        assert secret not in p.read_text(), p.name
    assert "[REDACTED]" in (tmp_path / "run.json").read_text()


def test_recording_holds_no_secret_of_its_run() -> None:
    """The committed recording: the Shodan key the run generated appears nowhere, only the marker."""
    text = "".join(p.name for p in RECORDING.rglob("*"))
    assert "api_key" not in text
    import gzip

    for p in RECORDING.rglob("*.gz"):
        data = gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
        for line in data.splitlines():
            assert "shodan init " not in line or "[REDACTED]" in line or "$SHODAN_API_KEY" in line, line[:200]


def test_html_escapes_everything(doc: dict[str, Any]) -> None:
    evil = json.loads(json.dumps(doc))
    evil["atomics"][0]["name"] = "<script>alert(1)</script>"
    evil["atomics"][0]["signals"][0]["reason"] = "\"><img src=x onerror=alert(1)>"
    page = render_report(evil)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page.split("<body>")[0]  # self-contained: nothing loaded from elsewhere
    assert "<script" not in page and "<link" not in page and "@import" not in page


def test_report_names_how_the_target_was_reached_and_every_reconnect(doc: dict[str, Any]) -> None:
    d = copy.deepcopy(doc)
    d["target"]["facts"]["connection"] = {"url": "ssh://root@lab:22", "host_key_verification": "pinned",
                                          "reconnects": ["SFTP session lost (channel closed)"]}
    page = render_report(d)
    assert "<th>host key</th><td>pinned</td>" in page
    assert '<th>reconnected</th><td class="loud">SFTP session lost (channel closed)</td>' in page
    assert "reconnected" not in render_report(doc)

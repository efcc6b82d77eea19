"""The interchange formats of a run: JUnit XML, an ATT&CK Navigator layer (4.5) and ATTiRe JSON (v1.1,
the Attire logger's format, validated against its published schema in schemas/)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources
from typing import Any

from harness.evidence.report import COLOURS

_PASS = {"ALERTED", "OBSERVED", "CLEAN"}
_SKIP = {"PREREQ_MISSING", "SENSOR_UNAVAILABLE"}


def attire_schema() -> dict[str, Any]:
    text = resources.files("harness.evidence").joinpath("schemas/attire-1-1-schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _all(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["atomics"]) + ([doc["negative_control"]] if doc.get("negative_control") else [])


def junit_xml(doc: dict[str, Any]) -> str:
    """One testsuite per run, one testcase per expected signal (and per atomic without signals run)."""
    cases: list[ET.Element] = []
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for a in _all(doc):
        for s in a["signals"]:
            case = ET.Element("testcase", classname=f"{doc['technique']['id']}.{a['id']}", name=s["id"],
                              time=str(a.get("duration_s") or 0))
            v = s["verdict"]
            msg = f"{v}: {s['reason']}" if s["reason"] else v
            counts["tests"] += 1
            if v in _SKIP:
                ET.SubElement(case, "skipped", message=msg)
                counts["skipped"] += 1
            elif v == "ERROR":
                err = ET.SubElement(case, "error", message=msg, type=v)
                err.text = json.dumps(s["telemetry"])
                counts["errors"] += 1
            elif v not in _PASS:
                fail = ET.SubElement(case, "failure", message=msg, type=v)
                fail.text = json.dumps({"telemetry": s["telemetry"], "sigma": s["sigma"]["rules"],
                                        "kql": s["kql"]["rules"]}, default=str)[:8000]
                counts["failures"] += 1
            props = ET.SubElement(case, "properties")
            for k, val in (("verdict", v), ("sigma", s["sigma"]["verdict"]), ("kql", s["kql"]["verdict"]),
                           ("target", doc["target"]["label"])):
                ET.SubElement(props, "property", name=k, value=str(val))
            cases.append(case)
    suites = ET.Element("testsuites")
    attrib = {"name": f"{doc['technique']['id']} {doc['run_id']}", "timestamp": str(doc["started"]),
              "hostname": str(doc["target"]["label"]), **{k: str(v) for k, v in counts.items()}}
    suite = ET.SubElement(suites, "testsuite", attrib)
    suite.extend(cases)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def navigator_layer(doc: dict[str, Any]) -> dict[str, Any]:
    """ATT&CK Navigator layer (format 4.5): the technique coloured by its worst atomic verdict, each
    atomic's verdict in the metadata and comment."""
    order = ["ALERTED", "OBSERVED", "SENSOR_UNAVAILABLE", "PREREQ_MISSING", "TELEMETRY_ONLY", "NO_TELEMETRY",
             "FALSE_POSITIVE", "EXECUTION_FAILED", "ERROR"]
    verdicts = [a["verdict"] for a in doc["atomics"]]
    worst = max(verdicts, key=lambda v: order.index(v) if v in order else len(order)) if verdicts else "ERROR"
    alerted = sum(1 for v in verdicts if v in _PASS)
    technique = doc["technique"]["id"]
    tid, _, sub = technique.partition(".")
    entries = [{
        "techniqueID": technique,
        "tactic": "reconnaissance",
        "score": alerted,
        "color": COLOURS.get(worst, "#555555"),
        "comment": "; ".join(f"{a['id']} {a['verdict']}" for a in doc["atomics"]),
        "enabled": True,
        "metadata": [{"name": a["id"], "value": f"{a['verdict']} ({a['name']})"} for a in doc["atomics"]]
        + [{"name": "negative control", "value": str(doc["summary"]["negative_control"])}],
        "showSubtechniques": False,
    }]
    if sub:
        entries.append({"techniqueID": tid, "tactic": "reconnaissance", "color": "", "comment": "",
                        "enabled": True, "metadata": [], "showSubtechniques": True})
    return {
        "name": f"{technique} detection validation {doc['run_id']}",
        "versions": {"attack": "16", "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": f"Verdicts of run {doc['run_id']} on {doc['target']['label']} ({doc['started']})",
        "filters": {"platforms": ["Linux"]},
        "sorting": 0,
        "layout": {"layout": "side", "aggregateFunction": "average", "showID": True, "showName": True,
                   "showAggregateScores": False, "countUnscored": False, "expandedSubtechniques": "annotated"},
        "hideDisabled": False,
        "techniques": entries,
        "gradient": {"colors": ["#ff6666ff", "#ffe766ff", "#8ec843ff"], "minValue": 0,
                     "maxValue": max(len(doc["atomics"]), 1)},
        "legendItems": [{"label": v, "color": COLOURS[v]} for v in order if v in COLOURS],
        "metadata": [{"name": "run_id", "value": doc["run_id"]}, {"name": "mode", "value": doc["mode"]}],
        "links": [],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def attire_log(doc: dict[str, Any]) -> dict[str, Any]:
    """The run as an ATTiRe v1.1 log: one procedure per atomic, one step per command."""
    facts = doc["target"].get("facts") or {}
    procedures = []
    for order, a in enumerate(_all(doc), 1):
        steps = []
        for n, c in enumerate(a["commands"], 1):
            output = []
            if c.get("stdout_excerpt"):
                output.append({"type": "console", "level": "STDOUT", "content": c["stdout_excerpt"]})
            if c.get("stderr_excerpt"):
                output.append({"type": "console", "level": "STDERR", "content": c["stderr_excerpt"]})
            steps.append({
                "order": n, "command": c["command"], "time-start": c["started"], "time-stop": c["ended"],
                "output": output, "x-harness-phase": c["phase"], "x-harness-exit-code": c["exit_code"],
            })
        procedures.append({
            "procedure-name": f"{a['id']}: {a['name']}",
            "procedure-id": {"type": "guid", "id": a.get("guid") or a["id"]},
            "mitre-technique-id": doc["technique"]["id"],
            "order": order,
            "steps": steps,
            "x-harness-verdict": a["verdict"],
        })
    return {
        "attire-version": "1.1",
        "execution-data": {
            "execution-id": doc["run_id"],
            "execution-source": f"{doc['harness']['name']} {doc['harness']['version']}",
            "execution-command": f"pytest atomics/ --target {doc['target']['url']}",
            "execution-category": {"name": "Atomic Red Team", "abbreviation": "ART"},
            "time-generated": doc["started"],
            "target": {"host": str(facts.get("hostname") or doc["target"]["url"]), "user": "root",
                       "ip": str((doc["target"].get("lab") or {}).get("uplink_ip") or "")},
        },
        "procedures": procedures,
    }

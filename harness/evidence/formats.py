"""The interchange formats of a run: JUnit XML, an ATT&CK Navigator layer (4.5) and ATTiRe JSON (v1.1,
the Attire logger's format, validated against its published schema in schemas/)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib import resources

from harness.evidence.document import JsonDoc
from harness.evidence.report import COLOURS

_PASS = {"ALERTED", "OBSERVED", "CLEAN"}
_SKIP = {"PREREQ_MISSING", "SENSOR_UNAVAILABLE"}


def attire_schema() -> JsonDoc:
    text = resources.files("harness.evidence").joinpath("schemas/attire-1-1-schema.json").read_text(encoding="utf-8")
    data: JsonDoc = json.loads(text)
    return data


def _all(doc: JsonDoc) -> list[JsonDoc]:
    return list(doc["atomics"]) + ([doc["negative_control"]] if doc.get("negative_control") else [])


def junit_xml(doc: JsonDoc) -> str:
    """One testsuite per run, one testcase per expected signal (and per atomic without signals run)."""
    return junit_document([junit_suite(doc)])


def junit_document(suites: list[ET.Element]) -> str:
    root = ET.Element("testsuites")
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_suite(doc: JsonDoc, at_target: bool = False) -> ET.Element:
    """One target's testsuite; ``at_target`` names the target in each case's classname
    (``T1590.005.T1590.005-3@ssh://lab-07``), as the pytest test ids do, for a fleet's file."""
    label = str(doc["target"]["label"])
    cases: list[ET.Element] = []
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for a in _all(doc):
        for s in a["signals"]:
            case = ET.Element("testcase", classname=f"{doc['technique']['id']}.{a['id']}" + (f"@{label}" if at_target
                                                                                             else ""), name=s["id"],
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
    attrib = {"name": f"{doc['technique']['id']} {doc['run_id']}", "timestamp": str(doc["started"]),
              "hostname": label, **{k: str(v) for k, v in counts.items()}}
    suite = ET.Element("testsuite", attrib)
    suite.extend(cases)
    return suite


_ORDER = ["ALERTED", "OBSERVED", "SENSOR_UNAVAILABLE", "PREREQ_MISSING", "TELEMETRY_ONLY", "NO_TELEMETRY",
          "FALSE_POSITIVE", "EXECUTION_FAILED", "ERROR"]


def worst_verdict(verdicts: list[str]) -> str:
    """The worst of ``verdicts`` in the Navigator's order (ERROR when there are none)."""
    # CLEAN, the negative control's pass, is the best; a verdict this order does not know, the worst
    rank = {"CLEAN": -1, **{v: i for i, v in enumerate(_ORDER)}}
    return max(verdicts, key=lambda v: rank.get(v, len(_ORDER))) if verdicts else "ERROR"


def navigator_layer(doc: JsonDoc) -> JsonDoc:
    """ATT&CK Navigator layer (format 4.5): the technique coloured by its worst atomic verdict, each
    atomic's verdict in the metadata and comment."""
    verdicts = [a["verdict"] for a in doc["atomics"]]
    worst = worst_verdict(verdicts)
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
    return navigator_document(
        name=f"{technique} detection validation {doc['run_id']}",
        description=f"Verdicts of run {doc['run_id']} on {doc['target']['label']} ({doc['started']})",
        techniques=entries, max_score=max(len(doc["atomics"]), 1),
        legend=[{"label": v, "color": COLOURS[v]} for v in _ORDER if v in COLOURS],
        metadata=[{"name": "run_id", "value": doc["run_id"]}, {"name": "mode", "value": doc["mode"]}])


def navigator_document(*, name: str, description: str, techniques: list[JsonDoc], max_score: int,
                       legend: list[JsonDoc], metadata: list[JsonDoc]) -> JsonDoc:
    """An ATT&CK Navigator layer (format 4.5, Linux, red to green by score) around ``techniques``."""
    return {
        "name": name,
        "versions": {"attack": "16", "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": description,
        "filters": {"platforms": ["Linux"]},
        "sorting": 0,
        "layout": {"layout": "side", "aggregateFunction": "average", "showID": True, "showName": True,
                   "showAggregateScores": False, "countUnscored": False, "expandedSubtechniques": "annotated"},
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": ["#ff6666ff", "#ffe766ff", "#8ec843ff"], "minValue": 0, "maxValue": max_score},
        "legendItems": legend,
        "metadata": metadata,
        "links": [],
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def attire_log(doc: JsonDoc) -> JsonDoc:
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

"""One evidence set for a run over several targets (``--target`` repeated, ``--inventory``).

The fleet's run.json holds every target's own run record (the single-target document, unchanged)
under ``targets``, a target x atomic verdict matrix and the fleet's summary
(schemas/fleet.schema.json, which refers to run.schema.json for each target). report.html shows
the matrix above each target's sections; junit.xml has one testsuite per target and names the
target in each case; the Navigator layer keeps one technique score for the fleet (the number of
targets on which every atomic passed: the Navigator shows one score per technique and layer, and
the per-target detail is in the layer's metadata and the report's matrix); ATTiRe logs one
execution on one target, so each target has its own under ``attire/``. MANIFEST.sha256 covers all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

from harness.evidence.bundle import dump_json, write_sealed
from harness.evidence.document import JsonDoc
from harness.evidence.formats import _PASS, attire_log, junit_document, junit_suite, navigator_layer, worst_verdict
from harness.evidence.report import COLOURS, badge, e, page_head, run_parts
from harness.evidence.runjson import run_schema

FLEET_SCHEMA_VERSION = 1


def fleet_schema() -> JsonDoc:
    text = resources.files("harness.evidence").joinpath("schemas/fleet.schema.json").read_text(encoding="utf-8")
    data: JsonDoc = json.loads(text)
    return data


def fleet_validator() -> jsonschema.Draft202012Validator:
    """A validator of fleet documents that resolves their references to run.schema.json."""
    run = run_schema()
    registry: Registry[Any] = Registry().with_resource(run["$id"], Resource.from_contents(run))
    return jsonschema.Draft202012Validator(fleet_schema(), registry=registry)


def _verdicts(doc: JsonDoc) -> dict[str, str]:
    out = {a["id"]: a["verdict"] for a in doc["atomics"]}
    if doc.get("negative_control"):
        out[doc["negative_control"]["id"]] = doc["negative_control"]["verdict"]
    return out


def build_fleet_document(docs: Sequence[JsonDoc]) -> JsonDoc:
    """The fleet's run.json from each target's own document (two or more, in target order)."""
    if len(docs) < 2:
        raise ValueError("a fleet document needs two or more targets' run records")
    labels = [d["target"]["label"] for d in docs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two targets of a fleet have the same label: {labels}")
    first = docs[0]
    return {
        "schema_version": FLEET_SCHEMA_VERSION,
        "kind": "fleet",
        "run_id": first["run_id"],
        "mode": first["mode"],
        "started": min(d["started"] for d in docs),
        "ended": max(d["ended"] for d in docs),
        "harness": first["harness"],
        "technique": first["technique"],
        "matrix": {d["target"]["label"]: _verdicts(d) for d in docs},
        "targets": list(docs),
        "summary": {
            "targets": len(docs),
            "passed": all(d["summary"]["passed"] for d in docs),
            "by_target": {d["target"]["label"]: {"run_id": d["run_id"], "passed": d["summary"]["passed"],
                                                 "atomics": dict(d["summary"]["atomics"])} for d in docs},
        },
    }


def render_fleet_report(fleet: JsonDoc) -> str:
    """One page: the target x atomic matrix, then each target's sections."""
    labels = list(fleet["matrix"])
    columns = list(dict.fromkeys(a for row in fleet["matrix"].values() for a in row))
    parts = page_head(fleet, f"{len(labels)} targets")
    overall = "PASSED" if fleet["summary"]["passed"] else "FAILED"
    parts += ["<h2>Targets × atomics</h2>", "<table><tr><th>Target</th>"
              + "".join(f"<th>{e(c)}</th>" for c in columns) + "<th>Run</th></tr>"]
    for n, label in enumerate(labels):
        row = fleet["matrix"][label]
        by = fleet["summary"]["by_target"][label]
        cells = "".join(f'<td><a href="#t{n}-{e(c)}">{badge(row[c])}</a></td>' if c in row else "<td>–</td>"
                        for c in columns)
        parts.append(f'<tr><th><a href="#t{n}">{e(label)}</a></th>{cells}'
                     f'<td>{"PASSED" if by["passed"] else "FAILED"}</td></tr>')
    parts.append(f'</table><p class="meta">overall: <b>{overall}</b></p>')
    for n, doc in enumerate(fleet["targets"]):
        colour = COLOURS.get(worst_verdict(list(_verdicts(doc).values())), "#555")
        parts.append(f'<h2 id="t{n}" style="border-color:{colour}">Target {e(doc["target"]["label"])}</h2>')
        parts += run_parts(doc, anchor=f"t{n}-")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def fleet_junit(fleet: JsonDoc) -> str:
    return junit_document([junit_suite(doc, at_target=True) for doc in fleet["targets"]])


def fleet_navigator(fleet: JsonDoc) -> JsonDoc:
    layer = navigator_layer(fleet["targets"][0])
    technique = layer["techniques"][0]
    worst_by_target = {d["target"]["label"]: worst_verdict([a["verdict"] for a in d["atomics"]])
                       for d in fleet["targets"]}
    technique["score"] = sum(1 for d in fleet["targets"] if d["atomics"]
                             and all(a["verdict"] in _PASS for a in d["atomics"]))
    technique["color"] = COLOURS.get(worst_verdict(list(worst_by_target.values())), "#555555")
    technique["comment"] = "; ".join(f"{label}: {v}" for label, v in worst_by_target.items())
    technique["metadata"] = [{"name": f"{a['id']}@{d['target']['label']}", "value": f"{a['verdict']} ({a['name']})"}
                             for d in fleet["targets"] for a in d["atomics"]]
    n = len(worst_by_target)
    layer["name"] = f"{fleet['technique']['id']} detection validation {fleet['run_id']} ({n} targets)"
    layer["description"] = (f"Score: targets on which every atomic passed, of {len(worst_by_target)} "
                            f"({fleet['started']})")
    layer["gradient"]["maxValue"] = len(worst_by_target)
    layer["metadata"] = [{"name": "run_id", "value": fleet["run_id"]}, {"name": "mode", "value": fleet["mode"]},
                         {"name": "targets", "value": ", ".join(worst_by_target)}]
    return layer


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "target"


def write_fleet_evidence(fleet: JsonDoc, out_dir: Path, secrets: Iterable[str] = ()) -> list[Path]:
    """Write the fleet's run.json, report.html, junit.xml, navigator-layer.json, one ATTiRe log per
    target (attire/NN-<label>.json) and MANIFEST.sha256, every file through the secret redactor."""
    texts = {
        "run.json": dump_json(fleet),
        "report.html": render_fleet_report(fleet),
        "junit.xml": fleet_junit(fleet),
        "navigator-layer.json": dump_json(fleet_navigator(fleet)),
    }
    for n, doc in enumerate(fleet["targets"], 1):
        texts[f"attire/{n:02d}-{_slug(doc['target']['label'])}.json"] = dump_json(attire_log(doc))
    return write_sealed(out_dir, texts, secrets)

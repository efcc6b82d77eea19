"""The coverage evidence of an ART run: coverage.json, report.html (technique × test matrix),
navigator.json, and the diff of two coverage documents a CI job fails on.

The document is built from :class:`~harness.verdicts.coverage.TestCoverage` records (one per test,
the run's state files) and validated against ``schemas/coverage.schema.json`` before it is written.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import jsonschema

from harness.errors import ConfigError, SourceLocation
from harness.evidence.bundle import dump_json, write_sealed
from harness.evidence.document import JsonDoc
from harness.evidence.formats import navigator_document
from harness.evidence.report import CSS, e
from harness.verdicts.coverage import JUDGED, Coverage, TestCoverage

SCHEMA_ID = "recon-harness/coverage/1"
FILES = ("coverage.json", "report.html", "navigator.json")
COLOURS = {
    "DETECTED": "#1b7f3b", "NOT_DETECTED": "#b3261e", "PREREQ_MISSING": "#6b5b95",
    "EXECUTION_FAILED": "#c77700", "TIMED_OUT": "#c77700", "NOT_RUN": "#9e9e9e", "ERROR": "#7a0000",
}
LABELS = {
    "DETECTED": "detected", "NOT_DETECTED": "not detected", "PREREQ_MISSING": "prerequisite missing",
    "EXECUTION_FAILED": "failed", "TIMED_OUT": "failed (timed out)", "NOT_RUN": "not run", "ERROR": "failed (error)",
}
#: Events shown per rule hit and characters per event: the page stays readable whatever the file holds.
EVENTS_SHOWN = 3
EVENT_CHARS = 2000


def coverage_schema() -> JsonDoc:
    doc: JsonDoc = json.loads(resources.files("harness.evidence").joinpath("schemas/coverage.schema.json")
                              .read_text(encoding="utf-8"))
    return doc


def build_document(
    results: Sequence[TestCoverage], *, run_id: str, started: str, ended: str | None, target: str,
    atomics_root: str, rule_set: JsonDoc, reset: JsonDoc, control: JsonDoc,
) -> JsonDoc:
    """The coverage document of ``results`` (library order kept)."""
    executed = [float(r.timings["total_s"]) for r in results
                if r.coverage is not Coverage.NOT_RUN and "total_s" in r.timings]
    return {
        "schema": SCHEMA_ID, "run_id": run_id, "started": started, "ended": ended, "target": target,
        "atomics_root": atomics_root, "rule_set": dict(rule_set), "reset": dict(reset),
        "control": {"status": str(control.get("status", "NOT_RUN")), "rules": list(control.get("rules", []))},
        "tests": [r.to_dict() for r in results],
        "summary": {c.value: sum(1 for r in results if r.coverage is c) for c in Coverage},
        "timing": {"tests": len(results), "executed": len(executed),
                   "per_test_s_median": round(statistics.median(executed), 2) if executed else None,
                   "total_s": round(sum(executed), 2)},
    }


def validate(doc: JsonDoc, location: SourceLocation | None = None) -> None:
    """Raise a ConfigError (at ``location``, the file read) naming the first schema violation."""
    errors = sorted(jsonschema.Draft202012Validator(coverage_schema()).iter_errors(doc), key=lambda x: list(x.path))
    where = "" if location else "coverage document: "
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.path) or "(top)"
        raise ConfigError(f"{where}{path}: {first.message}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1
                                                                else ""), location)
    # the schema cannot say it: a test listed twice would make the diff and the matrix ambiguous
    seen: set[str] = set()
    for i, t in enumerate(doc["tests"]):
        if t["test_id"] in seen:
            raise ConfigError(f"{where}tests/{i}/test_id: {t['test_id']} is listed twice", location)
        seen.add(t["test_id"])


def write_coverage(out_dir: Path, doc: JsonDoc, secrets: Sequence[str] = ()) -> list[Path]:
    """coverage.json, report.html, navigator.json and their MANIFEST.sha256, through the redactor."""
    validate(doc)
    texts = {"coverage.json": dump_json(doc), "report.html": render_coverage_report(doc),
             "navigator.json": dump_json(coverage_layer(doc))}
    return write_sealed(out_dir, texts, secrets)


def load_coverage(path: Path | str) -> JsonDoc:
    """A coverage.json read back and validated; bad input is a ConfigError naming file:line:column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", SourceLocation(str(p))) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 (byte {exc.start})", SourceLocation(str(p))) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc.msg}", SourceLocation(str(p), exc.lineno, exc.colno)) from exc
    if not isinstance(doc, dict):
        raise ConfigError("not a coverage document (a JSON object is expected)", SourceLocation(str(p), 1, 1))
    validate(doc, SourceLocation(str(p)))
    return doc


# --- diff --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestChange:
    """How one test's coverage changed between two documents."""

    __test__ = False

    test_id: str
    before: str | None  # None: the test was not in the old document
    after: str | None  # None: not in the new one
    gained: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()

    @property
    def regressed(self) -> bool:
        return bool(self.lost) or (self.before == Coverage.DETECTED.value and self.after != Coverage.DETECTED.value)

    def to_dict(self) -> JsonDoc:
        return {"test_id": self.test_id, "before": self.before, "after": self.after, "gained": list(self.gained),
                "lost": list(self.lost), "regressed": self.regressed}


@dataclass(frozen=True)
class CoverageDiff:
    old_run: str
    new_run: str
    changes: tuple[TestChange, ...]
    titles: Mapping[str, str]

    @property
    def regressed(self) -> bool:
        """A rule lost on a test, or a DETECTED test that is not any more (dropped from the run included:
        its coverage is gone either way)."""
        return any(c.regressed for c in self.changes)

    @property
    def added(self) -> tuple[str, ...]:
        return tuple(c.test_id for c in self.changes if c.before is None)

    @property
    def removed(self) -> tuple[str, ...]:
        return tuple(c.test_id for c in self.changes if c.after is None)

    def to_dict(self) -> JsonDoc:
        return {"old_run": self.old_run, "new_run": self.new_run, "regressed": self.regressed,
                "added": list(self.added), "removed": list(self.removed),
                "changes": [c.to_dict() for c in self.changes]}


def _counted(test: JsonDoc) -> set[str]:
    """The rules that count for a test: those that did not also fire on the negative control."""
    return {str(r["rule_id"]) for r in test.get("rules", []) if not r.get("on_control")}


def diff_coverage(old: JsonDoc, new: JsonDoc) -> CoverageDiff:
    """Per test: outcome before and after, rules gained and lost (only tests that changed)."""
    before = {str(t["test_id"]): t for t in old.get("tests", [])}
    after = {str(t["test_id"]): t for t in new.get("tests", [])}
    titles = {str(r["rule_id"]): str(r.get("title", "")) for doc in (old, new) for t in doc.get("tests", [])
              for r in t.get("rules", [])}
    changes = []
    for tid in sorted(before.keys() | after.keys(), key=_test_key):
        b, a = before.get(tid), after.get(tid)
        was, now = (str(b["coverage"]) if b else None), (str(a["coverage"]) if a else None)
        rb, ra = _counted(b or {}), _counted(a or {})
        change = TestChange(tid, was, now, tuple(sorted(ra - rb)), tuple(sorted(rb - ra)))
        if was != now or change.gained or change.lost:
            changes.append(change)
    return CoverageDiff(str(old.get("run_id", "")), str(new.get("run_id", "")), tuple(changes), titles)


def _test_key(test_id: str) -> tuple[str, int]:
    technique, _, n = test_id.rpartition("-")
    return (technique, int(n)) if n.isdigit() else (test_id, 0)


def render_diff_text(diff: CoverageDiff) -> str:
    lines = []
    for c in diff.changes:
        what = f"{c.before or 'absent'} -> {c.after or 'absent'}" if c.before != c.after else str(c.after)
        parts = [f"{'REGRESSION' if c.regressed else 'change    '} {c.test_id}: {what}"]
        parts += [f"lost {r} ({diff.titles.get(r, '')})" for r in c.lost]
        parts += [f"gained {r} ({diff.titles.get(r, '')})" for r in c.gained]
        lines.append("; ".join(parts))
    lost = sum(len(c.lost) for c in diff.changes)
    gained = sum(len(c.gained) for c in diff.changes)
    if not diff.changes:
        lines.append(f"no change between {diff.old_run} and {diff.new_run}")
    else:
        lines.append(f"{len(diff.changes)} test(s) changed: {lost} rule(s) lost, {gained} gained"
                     + (" (REGRESSED)" if diff.regressed else ""))
    return "\n".join(lines)


# --- navigator ---------------------------------------------------------------------------------
def coverage_layer(doc: JsonDoc) -> JsonDoc:
    """ATT&CK Navigator layer (format 4.5): each technique scored by the share (0-100) of its judged
    tests that were detected; a technique with no judged test has no score and says so."""
    by_technique: dict[str, list[JsonDoc]] = {}
    for t in doc["tests"]:
        by_technique.setdefault(str(t["technique"]), []).append(t)
    entries = []
    for technique, tests in sorted(by_technique.items()):
        judged = [t for t in tests if t["coverage"] in {c.value for c in JUDGED}]
        detected = [t for t in judged if t["coverage"] == Coverage.DETECTED.value]
        entry: JsonDoc = {
            "techniqueID": technique, "enabled": True, "showSubtechniques": False,
            "comment": "; ".join(f"{t['test_id']} {t['summary']}" for t in tests)
            if judged else "no test judged: " + "; ".join(f"{t['test_id']} {t['coverage']}" for t in tests),
            "metadata": [{"name": t["test_id"], "value": f"{t['coverage']} ({t['name']})"} for t in tests],
        }
        if judged:
            entry["score"] = round(100 * len(detected) / len(judged))
        entries.append(entry)
    return navigator_document(
        name=f"ART coverage {doc['run_id']}",
        description=f"Share of judged upstream tests detected by {doc['rule_set']['path']} on {doc['target']}",
        techniques=entries, max_score=100, legend=[],
        metadata=[{"name": "run_id", "value": doc["run_id"]},
                  {"name": "rules", "value": str(doc["rule_set"]["rules"])}])


# --- report.html -------------------------------------------------------------------------------
def _event(ev: object) -> str:
    text = json.dumps(ev, indent=1, ensure_ascii=False, default=str)
    return e(text[:EVENT_CHARS] + ("\n…" if len(text) > EVENT_CHARS else ""))


def _cell(t: JsonDoc) -> str:
    cov = str(t["coverage"])
    label = LABELS.get(cov, cov)
    if cov == Coverage.DETECTED.value:
        label += f" ({sum(1 for r in t['rules'] if not r['on_control'])})"
    n = str(t["test_id"]).rpartition("-")[2]
    return (f'<td style="background:{COLOURS.get(cov, "#555")};color:#fff" title="{e(t["name"])}: {e(t["summary"])}">'
            f'<a style="color:#fff" href="#{e(t["test_id"])}">#{e(n)} {e(label)}</a></td>')


def render_coverage_report(doc: JsonDoc) -> str:
    """One self-contained page: the run, the technique × test matrix, then each test's evidence."""
    by_technique: dict[str, list[JsonDoc]] = {}
    for t in doc["tests"]:
        by_technique.setdefault(str(t["technique"]), []).append(t)
    width = max((len(ts) for ts in by_technique.values()), default=0)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
           f"<title>ART coverage {e(doc['run_id'])}</title><style>{CSS}</style></head><body>",
           "<h1>ART coverage: which rules see each upstream test</h1>",
           f"<p class='meta'>run {e(doc['run_id'])} on <b>{e(doc['target'])}</b>, {e(doc['started'])} to "
           f"{e(doc['ended'])}; atomics {e(doc['atomics_root'])}; rule set {e(doc['rule_set']['path'])} "
           f"({e(doc['rule_set']['rules'])} rules, sha256 {e(doc['rule_set']['sha256'][:16])}…); reset "
           f"{e(doc['reset']['kind'])} ({e(doc['reset']['resets'])} reverts, median {e(doc['reset']['median_s'])} s); "
           f"negative control {e(doc['control']['status'])}, rules firing on it: "
           f"{e(', '.join(doc['control']['rules']) or 'none')}</p>",
           "<p>" + " ".join(f'<span class="v" style="background:{COLOURS[k]}">{e(LABELS[k])}: {e(v)}</span>'
                            for k, v in doc["summary"].items() if v) + "</p>",
           "<h2>Technique × test</h2><table><tr><th>technique</th>"
           + "".join("<th>test</th>" for _ in range(width)) + "</tr>"]
    for technique, tests in sorted(by_technique.items()):
        cells = "".join(_cell(t) for t in sorted(tests, key=lambda t: _test_key(str(t["test_id"])))) \
            + "<td></td>" * (width - len(tests))
        out.append(f"<tr><th>{e(technique)}</th>{cells}</tr>")
    out.append("</table><h2>Tests</h2>")
    for t in doc["tests"]:
        out.append(f"<h3 id='{e(t['test_id'])}'>{e(t['test_id'])} {e(t['name'])} "
                   f'<span class="v" style="background:{COLOURS.get(t["coverage"], "#555")}">{e(t["summary"])}'
                   "</span></h3>")
        seen = ", ".join(f"{e(k)} {e(v)}" for k, v in t["telemetry"].items()) or "none collected"
        out.append(f"<p class='meta'>status {e(t['status'])}; cleanup {e(t['cleanup'] or '-')}; events "
                   f"attributed: {seen}; {e(json.dumps(t['timings']))}"
                   + (f"; telemetry in {e(t['directory'])}" if t.get("directory") else "") + "</p>")
        if t["reason"]:
            out.append(f"<p class='loud'>{e(t['reason'])}</p>")
        if t["rules"]:
            out.append("<table><tr><th>rule</th><th>level</th><th>matches</th><th>events (first few)</th></tr>")
            for r in t["rules"]:
                note = " <i>(also fires on the negative control: not counted)</i>" if r["on_control"] else ""
                events = "".join(f"<pre>{_event(ev)}</pre>" for ev in r["events"][:EVENTS_SHOWN])
                if len(r["events"]) > EVENTS_SHOWN:
                    events += f"<p class='meta'>{len(r['events']) - EVENTS_SHOWN} more not shown</p>"
                out.append(f"<tr><td>{e(r['title'])}<br><span class='meta'>{e(r['rule_id'])}</span>{note}</td>"
                           f"<td>{e(r['level'])}</td><td>{e(r['matches'])}</td><td>{events}</td></tr>")
            out.append("</table>")
    out.append("</body></html>\n")
    return "\n".join(out)

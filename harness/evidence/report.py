"""report.html: one self-contained page an auditor can read offline (no scripts, no external
resources). Every value from the run is escaped with ``html.escape``."""

from __future__ import annotations

import html
import json
from typing import Any

from harness.evidence.document import JsonDoc

COLOURS = {
    "ALERTED": "#1b7f3b", "OBSERVED": "#2f6f9f", "CLEAN": "#1b7f3b", "NOT_JUDGED": "#777777",
    "TELEMETRY_ONLY": "#c77700", "NO_TELEMETRY": "#b3261e", "SENSOR_UNAVAILABLE": "#8a6d00",
    "PREREQ_MISSING": "#6b5b95", "EXECUTION_FAILED": "#b3261e", "ERROR": "#7a0000", "FALSE_POSITIVE": "#b3261e",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d1d1f;background:#fff;
line-height:1.4}
h1{font-size:24px;margin:0 0 4px} h2{font-size:19px;margin:28px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px} table{border-collapse:collapse;margin:8px 0;width:100%}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:13px}
th{background:#f0f0f3} .v{color:#fff;font-weight:600;padding:2px 6px;border-radius:3px;white-space:nowrap}
pre{background:#f7f7f9;border:1px solid #e1e1e6;padding:6px;white-space:pre-wrap;word-break:break-all;
font-size:12px;margin:4px 0;max-height:320px;overflow:auto} .meta{color:#555;font-size:13px}
.loud{background:#fff4e5;border:1px solid #c77700;padding:8px;margin:8px 0}
.bad{background:#fdecea;border:1px solid #b3261e;padding:8px;margin:8px 0}
"""


def e(value: Any) -> str:
    """Escape anything for HTML text and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def badge(verdict: Any) -> str:
    v = str(verdict)
    return f'<span class="v" style="background:{COLOURS.get(v, "#555")}">{e(v)}</span>'


def _j(value: Any, limit: int = 4000) -> str:
    text = json.dumps(value, indent=1, default=str, ensure_ascii=False)
    return e(text[:limit] + ("\n…" if len(text) > limit else ""))


def _summary(doc: JsonDoc, anchor: str = "") -> list[str]:
    out = ["<h2>Summary</h2>", "<table><tr><th>Atomic</th><th>Name</th><th>Run</th><th>Verdict</th>"
           "<th>Signals</th><th>Why</th></tr>"]
    rows = list(doc["atomics"]) + ([doc["negative_control"]] if doc.get("negative_control") else [])
    for a in rows:
        counts: dict[str, int] = {}
        for s in a["signals"]:
            counts[s["verdict"]] = counts.get(s["verdict"], 0) + 1
        sig = ", ".join(f"{e(k)} {v}" for k, v in sorted(counts.items()))
        out.append(f'<tr><td><a href="#{e(anchor + a["id"])}">{e(a["id"])}</a></td><td>{e(a["name"])}</td>'
                   f'<td>{e(a["status"])}</td><td>{badge(a["verdict"])}</td><td>{sig}</td>'
                   f'<td>{e(a["verdict_reason"] or a["reason"])}</td></tr>')
    out.append("</table>")
    s = doc["summary"]
    overall = "PASSED" if s["passed"] else "FAILED"
    out.append(f'<p class="meta">Signals by verdict: {e(json.dumps(s["signals"], sort_keys=True))}; '
               f'negative control: {e(s["negative_control"])}; overall: <b>{overall}</b></p>')
    return out


def _atomic(a: JsonDoc, anchor: str = "") -> list[str]:
    out = [f'<h2 id="{e(anchor + a["id"])}">{e(a["id"])}: {e(a["name"])} {badge(a["verdict"])}</h2>',
           f'<p class="meta">run {e(a["status"])} {e(a["reason"])} · started {e(a.get("started"))} · '
           f'duration {e(a.get("duration_s"))} s · correlation id {e(a.get("correlation_id"))}</p>']
    if a["commands"]:
        out.append("<h3>Commands</h3><table><tr><th>Phase</th><th>Command</th><th>Exit</th><th>Duration</th>"
                   "<th>stdout / stderr SHA-256</th></tr>")
        for c in a["commands"]:
            out.append(f'<tr><td>{e(c["phase"])}</td><td><pre>{e(c["command"])}</pre></td><td>{e(c["exit_code"])}</td>'
                       f'<td>{e(c["duration_s"])} s</td><td><code>{e(c["stdout_sha256"][:16])}…</code><br>'
                       f'<code>{e(c["stderr_sha256"][:16])}…</code></td></tr>')
        out.append("</table>")
    out.append("<h3>Expected signals</h3><table><tr><th>Signal</th><th>Sensor</th><th>Verdict</th><th>Sigma</th>"
               "<th>KQL</th><th>Telemetry</th><th>Why</th></tr>")
    for s in a["signals"]:
        rules = []
        for eng in ("sigma", "kql"):
            parts = [f'{e(r["rule"])}: {r["matches_on_signal"]}/{r["matches_total"]}'
                     + ("" if r["loaded"] else " (not loaded)") for r in s[eng]["rules"]]
            rules.append(badge(s[eng]["verdict"]) + ("<br>" + "<br>".join(parts) if parts else ""))
        t = s["telemetry"]
        out.append(f'<tr><td><b>{e(s["id"])}</b><br><span class="meta">{e(s["description"])}</span></td>'
                   f'<td>{e(s["sensor"])}</td><td>{badge(s["verdict"])}</td><td>{rules[0]}</td><td>{rules[1]}</td>'
                   f'<td>{t["matching_events"]} / {t["min_count"]}</td><td>{e(s["reason"])}</td></tr>')
    out.append("</table>")
    examples = [(s["id"], x) for s in a["signals"] for x in s["examples"][:1]]
    if examples:
        out.append("<h3>Telemetry excerpts (one event per signal)</h3>")
        for sid, x in examples:
            out.append(f"<p class=\"meta\">{e(sid)}</p><pre>{_j(x, 1500)}</pre>")
    hits = a["rule_hits"]["sigma"]
    if hits:
        out.append(f"<h3>Sigma rule hits ({len(hits)})</h3>"
                   "<table><tr><th>Rule</th><th>Event #</th><th>Event</th></tr>")
        for h in hits[:50]:
            out.append(f'<tr><td>{e(h["title"])}<br><code>{e(h["rule_id"])}</code></td><td>{e(h["index"])}</td>'
                       f'<td><pre>{_j(h["event"], 800)}</pre></td></tr>')
        out.append("</table>")
    for q, rows in a["rule_hits"]["kql"].items():
        out.append(f"<h3>KQL rows of {e(q)} ({len(rows)})</h3>")
        if rows:
            out.append(f"<pre>{_j(rows[:10], 3000)}</pre>")
    return out


def page_head(doc: JsonDoc, what: str) -> list[str]:
    """The page's head and title lines for a run.json document (one target's or a fleet's)."""
    return [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        f"<title>{e(doc['technique']['id'])} validation run {e(doc['run_id'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{e(doc['technique']['id'])} {e(doc['technique']['name'])}: detection validation</h1>",
        f'<p class="meta">Run {e(doc["run_id"])} ({e(doc["mode"])}) · {e(doc["started"])} – {e(doc["ended"])} UTC · '
        f'{e(doc["harness"]["name"])} {e(doc["harness"]["version"])} · {what}</p>',
    ]


def render_report(doc: JsonDoc) -> str:
    """The page for one run.json document."""
    parts = page_head(doc, f"target {doc['target']['label']}") + run_parts(doc)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def run_parts(doc: JsonDoc, anchor: str = "") -> list[str]:
    """One target's sections (``anchor`` prefixes its ids, to keep several on one page apart)."""
    t = doc["target"]
    parts: list[str] = []
    if doc.get("infrastructure_error"):
        parts.append(f'<div class="bad"><b>Infrastructure error:</b> {e(doc["infrastructure_error"])}</div>')
    if t["sensors_unavailable"]:
        parts.append('<div class="loud"><b>Sensors unavailable on this target</b> (their signals were skipped, '
                     'not passed):<ul>' + "".join(f"<li>{e(x)}</li>" for x in t["sensors_unavailable"]) + "</ul></div>")
    parts += _summary(doc, anchor)
    parts.append("<h2>Target</h2><table>")
    facts = t["facts"]
    for k in ("os", "kernel", "hostname"):
        parts.append(f"<tr><th>{e(k)}</th><td>{e(facts.get(k))}</td></tr>")
    for k, v in sorted((facts.get("tools") or {}).items()):
        parts.append(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>")
    conn = facts.get("connection") or {}
    if conn.get("host_key_verification"):
        parts.append(f"<tr><th>host key</th><td>{e(conn['host_key_verification'])}</td></tr>")
    for why in conn.get("reconnects") or []:  # the run went on over a new connection: say why
        parts.append(f'<tr><th>reconnected</th><td class="loud">{e(why)}</td></tr>')
    parts.append("</table><table><tr><th>Sensor</th><th>Available</th><th>Mandatory</th><th>Reason</th></tr>")
    for s in t["sensors"]:
        parts.append(f'<tr><td>{e(s["name"])}</td><td>{e(s["available"])}</td><td>{e(s["mandatory"])}</td>'
                     f'<td>{e(s["reason"])}</td></tr>')
    parts.append("</table>")
    d = doc["detections"]
    parts.append(f"<h2>Detections</h2><p class=\"meta\">{e(d['directory'])}: {e(d['sigma_rules_loaded'])} Sigma rules "
                 "loaded</p><table><tr><th>File</th><th>SHA-256</th></tr>")
    for f in d["files"]:
        parts.append(f'<tr><td>{e(f["path"])}</td><td><code>{e(f["sha256"])}</code></td></tr>')
    parts.append("</table>")
    for p in d["sigma_problems"]:
        parts.append(f'<div class="bad">{e(p)}</div>')
    for a in doc["atomics"]:
        parts += _atomic(a, anchor)
    if doc.get("negative_control"):
        parts += _atomic(doc["negative_control"], anchor)
    return parts

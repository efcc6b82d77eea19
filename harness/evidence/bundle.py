"""Write the evidence of one run into a directory and seal it with MANIFEST.sha256."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.crashpoint import crash_point
from harness.evidence.document import JsonDoc
from harness.evidence.formats import attire_log, junit_xml, navigator_layer
from harness.evidence.report import render_report
from harness.telemetry.redaction import Redactor

MANIFEST = "MANIFEST.sha256"
FILES = ("run.json", "report.html", "junit.xml", "navigator-layer.json", "attire.json")


def dump_json(value: Any) -> str:
    """An evidence JSON file's text (indented, UTF-8 kept, anything else as str)."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n"


def write_evidence(doc: JsonDoc, out_dir: Path, secrets: Iterable[str] = ()) -> list[Path]:
    """Write run.json, report.html, junit.xml, navigator-layer.json, attire.json and MANIFEST.sha256.

    Every file passes through the secret redactor before it is written (the run's Shodan key and
    proxy password, plus credential query parameters), so no secret reaches the evidence even if
    an upstream stage missed one.
    """
    texts = {
        "run.json": dump_json(doc),
        "report.html": render_report(doc),
        "junit.xml": junit_xml(doc),
        "navigator-layer.json": dump_json(navigator_layer(doc)),
        "attire.json": dump_json(attire_log(doc)),
    }
    return write_sealed(out_dir, {name: texts[name] for name in FILES}, secrets)


def write_sealed(out_dir: Path, texts: dict[str, str], secrets: Iterable[str] = ()) -> list[Path]:
    """Write ``texts`` (relative name -> text, in order) through the secret redactor, then
    MANIFEST.sha256 over them; returns the files written, the manifest last."""
    redactor = Redactor([s for s in secrets if s])
    written = []
    for name, text in texts.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(redactor.redact(text), encoding="utf-8")
        written.append(path)
        crash_point("evidence")  # bench/crash_cycles.py: killed with the evidence half written
    write_manifest(out_dir, written)
    return [*written, out_dir / MANIFEST]


def write_manifest(out_dir: Path, files: Iterable[Path]) -> Path:
    """``sha256sum -c``-compatible manifest (two spaces, names relative to ``out_dir``)."""
    lines = []
    for p in sorted(files):
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        lines.append(f"{digest}  {p.relative_to(out_dir)}\n")
    path = out_dir / MANIFEST
    path.write_text("".join(lines), encoding="utf-8")
    return path


def verify_manifest(out_dir: Path) -> list[str]:
    """Problems found re-hashing the files the manifest lists (empty when intact)."""
    problems = []
    for line in (out_dir / MANIFEST).read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        p = out_dir / name
        if not p.exists():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: SHA-256 differs")
    return problems

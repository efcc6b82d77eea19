"""Evidence for audits: run.json (with its JSON Schema), report.html, JUnit XML, an ATT&CK Navigator
layer, an ATTiRe log, and MANIFEST.sha256 over all of them."""

from harness.evidence.bundle import FILES, MANIFEST, verify_manifest, write_evidence, write_manifest
from harness.evidence.formats import attire_log, attire_schema, junit_xml, navigator_layer
from harness.evidence.report import render_report
from harness.evidence.runjson import run_schema

__all__ = [
    "FILES", "MANIFEST", "attire_log", "attire_schema", "junit_xml", "navigator_layer", "render_report",
    "run_schema", "verify_manifest", "write_evidence", "write_manifest",
]

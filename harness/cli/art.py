"""``harness art run``: upstream Atomic Red Team tests on a disposable target, judged telemetry-first
against a rule set; writes coverage.json, report.html (technique × test matrix) and navigator.json.

Exit status: 0 when every selected test was judged or says why it could not run (DETECTED,
NOT_DETECTED, PREREQ_MISSING, EXECUTION_FAILED, TIMED_OUT, NOT_RUN); 1 when any test ended in ERROR
(the harness, the target or a sensor failed, so nothing is concluded about the rules); 2 on bad input.
Coverage gaps are findings, not failures: `harness coverage diff` fails a CI job on lost rules.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness.verdicts.coverage import Coverage, TestCoverage

if TYPE_CHECKING:
    from harness.run.art import ArtRun


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("art", help="run upstream Atomic Red Team tests on a disposable target")
    sub = p.add_subparsers(dest="art_command", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="detonate upstream tests one by one, reset between them, map the rules seeing each")
    r.add_argument("--atomics", required=True, metavar="DIR", help="the ART atomics/ tree (or one technique's folder)")
    r.add_argument("--target", required=True, metavar="URL",
                   help="vagrant://MACHINE, or ssh://…?disposable=1 (a host you can throw away)")
    r.add_argument("--rules", required=True, metavar="DIR", help="the Sigma rule set, e.g. SigmaHQ's rules/linux")
    r.add_argument("--evidence-dir", required=True, metavar="DIR",
                   help="state per test (a second run with the same DIR resumes) and the coverage evidence")
    r.add_argument("--technique", action="append", default=[], metavar="T", help="only these techniques (repeatable)")
    r.add_argument("--test", action="append", default=[], metavar="ID", help="only these tests, by id or GUID")
    r.add_argument("--reset", choices=["snapshot", "none"], default=None,
                   help="between tests: revert the VM to a clean snapshot (default for vagrant://) or nothing")
    r.add_argument("--timeout", type=float, default=120.0, help="seconds per test command (default 120)")
    r.add_argument("--scope", default=None, metavar="FILE", help="declared scope of an ssh:// host")
    r.add_argument("--lab-config", default=None, help="lab config TOML")
    r.set_defaults(func=_run)


def _progress(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from harness.run.art import ArtRun

    scope = None
    if args.scope:
        from harness.execution.scope_file import load_scope_file

        scope = load_scope_file(args.scope)
    run = ArtRun(atomics=Path(args.atomics), target=args.target, rules=Path(args.rules), out=Path(args.evidence_dir),
                 techniques=args.technique, test_ids=args.test, reset=args.reset, timeout_s=args.timeout,
                 lab_config=args.lab_config, scope=scope, progress=_progress)
    results = run.run_all()
    written = write_evidence(run, results)
    for r in results:
        print(f"{r.test_id:<14} {r.coverage:<16} {r.timings.get('total_s', 0):7.1f}s  {r.summary}")
    counts = {c: sum(1 for r in results if r.coverage is c) for c in Coverage}
    print(", ".join(f"{n} {c}" for c, n in counts.items() if n) or "no test selected")
    for path in written:
        print(f"wrote {path}")
    return 1 if counts[Coverage.ERROR] else 0


def write_evidence(run: ArtRun, results: list[TestCoverage]) -> list[Path]:
    """coverage.json, report.html and navigator.json of the run's state directory."""
    from harness.evidence.coverage import build_document, write_coverage

    return list(write_coverage(run.out, build_document(results, **run.document_inputs(results))))

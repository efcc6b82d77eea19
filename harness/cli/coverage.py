"""``harness coverage diff OLD NEW`` and ``harness coverage report FILE``: ART coverage documents.

``diff`` exits 1 when NEW lost coverage against OLD (a test lost a rule, or was DETECTED and is
not any more), 0 otherwise, 2 on bad input: a CI job runs it between two `harness art run`s.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("coverage", help="compare or re-render ART coverage documents (coverage.json)")
    sub = p.add_subparsers(dest="coverage_command", metavar="ACTION", required=True)
    d = sub.add_parser("diff", help="rules gained and lost per test between two runs; exit 1 on lost coverage")
    d.add_argument("old", metavar="OLD", help="coverage.json of the earlier run (or its directory)")
    d.add_argument("new", metavar="NEW", help="coverage.json of the later run (or its directory)")
    d.add_argument("--json", action="store_true", help="the diff as one JSON object")
    d.set_defaults(func=_diff)
    r = sub.add_parser("report", help="write report.html and navigator.json again from a coverage.json (resealed)")
    r.add_argument("file", metavar="FILE", help="coverage.json (or its directory)")
    r.add_argument("-o", "--out", metavar="DIR", default=None,
                   help="where to write (default: beside FILE; coverage.json is copied there)")
    r.set_defaults(func=_report)


def _path(arg: str) -> Path:
    p = Path(arg)
    return p / "coverage.json" if p.is_dir() else p


def _diff(args: argparse.Namespace) -> int:
    from harness.evidence.coverage import diff_coverage, load_coverage, render_diff_text

    diff = diff_coverage(load_coverage(_path(args.old)), load_coverage(_path(args.new)))
    print(json.dumps(diff.to_dict(), indent=2) if args.json else render_diff_text(diff))
    return 1 if diff.regressed else 0


def _report(args: argparse.Namespace) -> int:
    from harness.evidence.coverage import load_coverage, write_coverage

    src = _path(args.file)
    doc = load_coverage(src)
    # the whole set is written again (coverage.json unchanged) so MANIFEST.sha256 matches the new pages
    for path in write_coverage(Path(args.out) if args.out else src.parent, doc):
        print(f"wrote {path}")
    return 0

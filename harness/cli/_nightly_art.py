"""``harness nightly --art DIR``: the ART coverage run of each target, kept in the history database
and compared with that target's previous one. A test that lost a rule (or was DETECTED and is not
any more) is a regression: exit 1, as for a signal that stopped alerting.

Each night's run gets an evidence folder of its own (``art-<UTC time>-<suffix>-<target>``), so nothing is
resumed from an earlier night; an interrupted night is resumed with ``harness art run`` on its folder.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.evidence.document import JsonDoc

if TYPE_CHECKING:
    from harness.execution.fleet import TargetSpec

SCHEMA = """
CREATE TABLE IF NOT EXISTS art_runs (
    run_id TEXT PRIMARY KEY, label TEXT NOT NULL, started TEXT NOT NULL, evidence TEXT NOT NULL,
    rule_set TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS art_coverage (
    run_id TEXT NOT NULL REFERENCES art_runs(run_id), test_id TEXT NOT NULL, coverage TEXT NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (run_id, test_id)
);
"""


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--art", default=None, metavar="DIR",
                   help="instead of the suite: the Linux tests of this ART atomics/ tree on each (disposable) "
                        "target, their coverage kept and compared with the previous night's")
    p.add_argument("--art-rules", default=None, metavar="DIR", help="rule set (default: SigmaHQ's rules/linux "
                                                                     "in tests/data/sigmahq)")
    p.add_argument("--art-technique", action="append", default=[], metavar="T", help="only these techniques")
    p.add_argument("--art-test", action="append", default=[], metavar="ID", help="only these tests")
    p.add_argument("--art-timeout", type=float, default=120.0, metavar="S", help="seconds per test command")


def store(con: sqlite3.Connection, label: str, doc: JsonDoc, evidence: Path) -> None:
    """One night's coverage document of one target (the events left out: they stay in the evidence)."""
    con.executescript(SCHEMA)
    with con:
        con.execute("INSERT OR REPLACE INTO art_runs VALUES (?, ?, ?, ?, ?)",
                    (doc["run_id"], label, doc["started"], str(evidence), doc["rule_set"]["sha256"]))
        for test in doc["tests"]:
            slim = {**test, "rules": [{k: v for k, v in r.items() if k != "events"} for r in test["rules"]]}
            con.execute("INSERT OR REPLACE INTO art_coverage VALUES (?, ?, ?, ?)",
                        (doc["run_id"], test["test_id"], test["coverage"], json.dumps(slim)))


def previous(con: sqlite3.Connection, label: str, run_id: str) -> JsonDoc | None:
    """The previous night's coverage of ``label`` as a document :func:`diff_coverage` reads, or None."""
    con.executescript(SCHEMA)
    row = con.execute("SELECT run_id, started FROM art_runs WHERE label = ? AND run_id != ? AND started <= "
                      "(SELECT started FROM art_runs WHERE run_id = ?) ORDER BY started DESC, run_id DESC LIMIT 1",
                      (label, run_id, run_id)).fetchone()
    if row is None:
        return None
    tests = [json.loads(r[0]) for r in con.execute("SELECT record FROM art_coverage WHERE run_id = ? ORDER BY test_id",
                                                   (row[0],))]
    return {"run_id": row[0], "started": row[1], "tests": tests}


def run_nightly(args: argparse.Namespace, specs: Sequence[TargetSpec], con: sqlite3.Connection,
                progress: Callable[[str], None]) -> int:
    """Each target's ART run, stored in ``con`` (the history, closed here) and compared; the exit status."""
    from harness.evidence.coverage import build_document, diff_coverage, render_diff_text, write_coverage
    from harness.plugin.art import default_rules
    from harness.run.art import ArtRun, target_slug

    status = 0
    from harness.execution.collect import new_run_id

    stamp = new_run_id()  # UTC time and a random suffix: two nights never share a folder
    try:
        for spec in specs:
            out = Path(args.evidence_dir) / f"art-{stamp}-{target_slug(spec.label)}"
            run = ArtRun(atomics=Path(args.art), target=spec.url, rules=Path(args.art_rules or default_rules()),
                         out=out, techniques=args.art_technique, test_ids=args.art_test, timeout_s=args.art_timeout,
                         scope=spec.scope, progress=progress)
            results = run.run_all()
            doc = build_document(results, **run.document_inputs(results))
            write_coverage(out, doc)
            store(con, spec.label, doc, out)
            before = previous(con, spec.label, doc["run_id"])
            print(f"== {spec.label}: " + ", ".join(f"{n} {k}" for k, n in doc["summary"].items() if n))
            for r in results:
                print(f"{r.test_id:<14} {r.coverage:<16} {r.summary}")
            if before is None:
                print("no previous ART run on this target: nothing to compare")
            else:
                diff = diff_coverage(before, doc)
                print(f"against {before['run_id']}:")
                print(render_diff_text(diff))
                status |= 1 if diff.regressed else 0
            print(f"evidence: {out}")
    finally:
        con.close()
    return status

"""``harness nightly``: run the suite, keep the verdict history (SQLite), report regressions.

A regression is a signal that was ALERTED in the previous run on the same target and is not now
(or a negative control that was CLEAN and is not now); any regression exits 1. The evidence of
every run is written under ``--evidence-dir``: one folder per run, a fleet's when it covers several
targets (``--target`` repeated, ``--inventory``). The history keeps each target's record under
its label (the URL, or ssh://<inventory host>), so regressions are per target.

Schedule it (as root, from the checkout, here /opt/rah)::

    # cron: every night at 02:30
    30 2 * * * cd /opt/rah && .venv/bin/harness nightly --history h.sqlite --evidence-dir ev >>/var/log/rah 2>&1

    # systemd: /etc/systemd/system/recon-harness-nightly.service
    [Unit]
    Description=recon atomics harness nightly validation
    [Service]
    Type=oneshot
    WorkingDirectory=/opt/rah
    ExecStart=/opt/rah/.venv/bin/harness nightly --history /var/lib/rah/h.sqlite \
              --evidence-dir /var/lib/rah/evidence
    # /etc/systemd/system/recon-harness-nightly.timer
    [Timer]
    OnCalendar=*-*-* 02:30:00
    Persistent=true
    [Install]
    WantedBy=timers.target

    # CI (GitHub Actions, self-hosted root runner)
    on: {schedule: [{cron: "30 2 * * *"}]}
    jobs:
      nightly:
        runs-on: [self-hosted, linux]
        steps:
          - uses: actions/checkout@v4
          - run: sudo ./bootstrap.sh setup
          - run: sudo .venv/bin/harness nightly --history "$RUNNER_TEMP/../history.sqlite" --evidence-dir evidence
          - uses: actions/upload-artifact@v4
            with: {name: evidence, path: evidence/}
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.cli._target_options import add_target_options
from harness.execution.session import DEFAULT_TARGET

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started TEXT NOT NULL, ended TEXT NOT NULL, target TEXT NOT NULL,
    mode TEXT NOT NULL, passed INTEGER NOT NULL, evidence TEXT, label TEXT, fleet_id TEXT
);
CREATE TABLE IF NOT EXISTS verdicts (
    run_id TEXT NOT NULL REFERENCES runs(run_id), atomic_id TEXT NOT NULL, signal_id TEXT NOT NULL,
    verdict TEXT NOT NULL, sigma TEXT NOT NULL, kql TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (run_id, atomic_id, signal_id)
);
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("nightly", help="run the suite, record verdict history, exit 1 on a regression",
                              description=(__doc__ or "").split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--history", required=True, metavar="SQLITE", help="verdict history database (created if absent)")
    p.add_argument("--evidence-dir", default="evidence", metavar="DIR", help="evidence root (default evidence/)")
    add_target_options(p)
    p.add_argument("--detections", default=None, metavar="DIR", help="detections directory (default detections/)")
    p.add_argument("--record", default=None, metavar="DIR", help="also save the telemetry layout under DIR")
    p.add_argument("--replay", default=None, metavar="DIR", help="judge a recording instead of detonating")
    p.add_argument("--now", default=None, metavar="ISO8601", help="reference time for KQL now()/ago()")
    p.add_argument("--sign-key", default=None, metavar="KEY",
                   help="sign the run's evidence with this OpenSSH private key (harness evidence verify)")
    p.add_argument("--keep-runs", type=int, default=None, metavar="N",
                   help="retention: keep the evidence of the newest N nightly runs, delete older ones")
    p.add_argument("--keep-days", type=float, default=None, metavar="D",
                   help="retention: delete the evidence of nightly runs that started more than D days ago")
    from harness.cli._nightly_art import add_options as add_art_options

    add_art_options(p)
    p.set_defaults(func=_main)


def open_history(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    _migrate(con)
    return con


def _migrate(con: sqlite3.Connection) -> None:
    """Histories written before fleets have no label (a target's stable name) or fleet_id: add them;
    an old run's label is its target URL, which is what its regressions were compared on."""
    columns = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
    with con:
        if "label" not in columns:
            con.execute("ALTER TABLE runs ADD COLUMN label TEXT")
        if "fleet_id" not in columns:
            con.execute("ALTER TABLE runs ADD COLUMN fleet_id TEXT")
        # what ValidationRun.target_label was for such runs: the URL, or replay:<URL> for a replay
        con.execute("UPDATE runs SET label = CASE mode WHEN 'replay' THEN 'replay:' || target ELSE target END "
                    "WHERE label IS NULL")


def store(con: sqlite3.Connection, doc: dict[str, Any], evidence: str | None, fleet_id: str | None = None) -> None:
    """Record one target's run.json document and its verdicts (``fleet_id``: the run it was part of)."""
    with con:
        con.execute("INSERT OR REPLACE INTO runs (run_id, started, ended, target, mode, passed, evidence, label, "
                    "fleet_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (doc["run_id"], doc["started"], doc["ended"], doc["target"]["url"], doc["mode"],
                     int(bool(doc["summary"]["passed"])), evidence, doc["target"]["label"], fleet_id))
        for a in [*doc["atomics"], *([doc["negative_control"]] if doc.get("negative_control") else [])]:
            for s in a["signals"]:
                con.execute("INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (doc["run_id"], a["id"], s["id"], s["verdict"], s["sigma"]["verdict"],
                             s["kql"]["verdict"], s["reason"]))


def previous_run(con: sqlite3.Connection, run_id: str, label: str) -> str | None:
    """The latest earlier run of the target named ``label`` (a URL, or ssh://<inventory host>)."""
    row = con.execute("SELECT run_id FROM runs WHERE label = ? AND run_id != ? AND started <= "
                      "(SELECT started FROM runs WHERE run_id = ?) ORDER BY started DESC, run_id DESC LIMIT 1",
                      (label, run_id, run_id)).fetchone()
    return str(row[0]) if row else None


def regressions(con: sqlite3.Connection, run_id: str, before: str) -> list[tuple[str, str, str, str]]:
    """(atomic, signal, was, now) for each signal ALERTED (or CLEAN) before and not now; a signal
    that vanished from the run counts too."""
    old = {(a, s): v for a, s, v in con.execute(
        "SELECT atomic_id, signal_id, verdict FROM verdicts WHERE run_id = ?", (before,))}
    new = {(a, s): v for a, s, v in con.execute(
        "SELECT atomic_id, signal_id, verdict FROM verdicts WHERE run_id = ?", (run_id,))}
    out = []
    for key, was in sorted(old.items()):
        now = new.get(key, "MISSING")
        if was in ("ALERTED", "CLEAN") and now != was:
            out.append((key[0], key[1], was, now))
    return out


def _main(args: argparse.Namespace) -> int:
    from harness.atomics.loader import repo_root
    from harness.evidence import write_evidence
    from harness.evidence.fleet import build_fleet_document, write_fleet_evidence
    from harness.evidence.runjson import build_document
    from harness.execution.fleet import resolve_targets
    from harness.run import ValidationRun, parse_now

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    specs = resolve_targets(args.target or [], inventory=args.inventory, groups=args.target_group,
                            scope_file=args.scope, default=DEFAULT_TARGET)
    if args.art:
        from harness.cli._nightly_art import run_nightly

        return run_nightly(args, specs, open_history(Path(args.history)), progress)
    if args.replay and len(specs) > 1:
        from harness.errors import ConfigError

        raise ConfigError("--replay judges one recording, of one target: give one --target (or none)")
    docs = []
    secrets: list[str] = []
    for spec in specs:
        run = ValidationRun(
            target=spec.url,
            label=spec.label if spec.label != spec.url else None,  # ssh://<inventory host>
            scope=spec.scope,
            atomic_args=spec.arguments(),
            detections=Path(args.detections) if args.detections else repo_root() / "detections",
            replay=Path(args.replay) if args.replay else None,
            record=Path(args.record) if args.record else None,
            now=parse_now(args.now) if args.now else None,
            progress=progress,
        )
        run.run_all()
        docs.append(build_document(run))
        secrets += run.secrets
    fleet = build_fleet_document(docs) if len(docs) > 1 else None
    out = Path(args.evidence_dir) / (fleet["run_id"] if fleet is not None else docs[0]["run_id"])
    if fleet is not None:
        write_fleet_evidence(fleet, out, secrets)
    else:
        write_evidence(docs[0], out, secrets)
    if args.sign_key:
        from harness.evidence.signing import sign

        sign(out, Path(args.sign_key))
    con = open_history(Path(args.history))
    status = 0
    try:
        compared = []
        for doc in docs:
            store(con, doc, str(out), fleet["run_id"] if fleet is not None else None)
            before = previous_run(con, doc["run_id"], doc["target"]["label"])
            compared.append((doc, before, regressions(con, doc["run_id"], before) if before else []))
        for gone in apply_retention(con, Path(args.evidence_dir), args.keep_runs, args.keep_days):
            print(f"retention: removed {gone}")
    finally:
        con.close()
    for doc, before, found in compared:
        if fleet is not None:
            print(f"== {doc['target']['label']}")
        status |= report(doc, before, found)
    print(f"evidence: {out}")
    return status


def apply_retention(con: sqlite3.Connection, root: Path, keep_runs: int | None, keep_days: float | None,
                    now: dt.datetime | None = None) -> list[Path]:
    """Delete evidence of old nightly runs: only directories this history recorded, directly under
    ``root``, whose run.json carries that run's id (never anything else in the evidence root)."""
    import json
    import shutil

    if keep_runs is None and keep_days is None:
        return []
    # One row per evidence folder (a fleet's targets share theirs), named after its run: the
    # single target's run, or the fleet's (its first target's run id).
    rows = con.execute("SELECT COALESCE(fleet_id, run_id) AS folder, MIN(started) AS started, evidence FROM runs "
                       "WHERE evidence IS NOT NULL GROUP BY evidence ORDER BY started DESC, folder DESC").fetchall()
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_days) if keep_days is not None else None
    removed = []
    for index, (run_id, started, evidence) in enumerate(rows):
        old = keep_runs is not None and index >= keep_runs
        started_at = dt.datetime.fromisoformat(str(started).replace("Z", "+00:00"))
        old = old or (cutoff is not None and started_at < cutoff)
        path = Path(evidence)
        if not old or not path.is_dir() or path.resolve().parent != root.resolve() or path.name != run_id:
            continue
        try:
            if json.loads((path / "run.json").read_text(encoding="utf-8")).get("run_id") != run_id:
                continue
        except (OSError, ValueError):
            continue
        shutil.rmtree(path)
        with con:
            con.execute("UPDATE runs SET evidence = NULL WHERE evidence = ?", (evidence,))
        removed.append(path)
    return removed


def report(doc: dict[str, Any], before: str | None, found: Sequence[tuple[str, str, str, str]]) -> int:
    for a in [*doc["atomics"], *([doc["negative_control"]] if doc.get("negative_control") else [])]:
        print(f"{a['id']:<18} {a['verdict']:<18} {a['verdict_reason'] or a['reason']}")
    if before is None:
        print("no previous run on this target: nothing to compare")
    elif not found:
        print(f"no regression against {before}")
    for atomic, signal, was, now in found:
        print(f"REGRESSION {atomic} {signal}: {was} -> {now}")
    return 1 if found else 0

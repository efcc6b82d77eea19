"""``harness sigma scan``: parse, view and match in one process, streaming.

The same match records as ``harness parse --view sigma … | harness sigma match … --events -``, without
the JSON encoding and decoding between the two (most of that pipeline's time): the parsers, the
Sigma view (its C fast path for audit logs) and the engine are the ones ``parse`` and ``match`` run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from typing import IO, Any

from harness.cli._progress import Progress
from harness.errors import ConfigError
from harness.telemetry.parsers import FORMATS

#: Inputs at least this large (bytes, all files) get a progress bar when stderr is a terminal.
PROGRESS_MIN_BYTES = 32 << 20


class _FormatAndFiles(argparse.Action):
    """``--format FORMAT FILE…``: the files follow the format, so that rules can come first."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option: str | None = None) -> None:
        fmt, *files = values
        if fmt not in FORMATS:
            parser.error(f"argument --format: invalid choice: {fmt!r} (choose from {', '.join(FORMATS)})")
        if not files:
            parser.error("argument --format: expected FORMAT then at least one FILE")
        namespace.format, namespace.files = fmt, files


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sigma scan`` to the ``sigma`` subcommand family."""
    from harness.cli._rule_options import add_rule_options
    from harness.cli.parse import add_context_options

    scan = sub.add_parser(
        "scan",
        usage="harness sigma scan RULES... --format FORMAT FILE... [options]",
        help="parse, view and match telemetry files in one process; one JSON line per match",
        description=(
            "harness sigma scan RULES... --format FORMAT FILE... : the matches of "
            "'harness parse --view sigma | harness sigma match', in one streaming process. "
            "When a loaded rule is for {product: linux, service: auditd} (SigmaHQ's auditd rules), "
            "every audit record is also an event, as 'harness parse --auditd-raw' emits it; "
            "--no-auditd-raw turns that off."
        ),
    )
    add_rule_options(scan)
    scan.add_argument(
        "--format",
        nargs="+",
        required=True,
        action=_FormatAndFiles,
        metavar=("FORMAT", "FILE"),
        help=f"input format ({', '.join(FORMATS)}) then the input files, read in order; gzip-compressed or plain; "
        "'-' reads standard input",
    )
    scan.add_argument(
        "--no-auditd-raw",
        dest="auditd_raw",
        action="store_false",
        help="do not make every audit record an event for auditd-service rules (only the semantic "
        "process_creation/network_connection/file_event events)",
    )
    scan.add_argument("--stats", action="store_true", help="print throughput counters on stderr")
    scan.add_argument(
        "--summary",
        action="store_true",
        help="print matches per rule instead of the matches: a table on a terminal, JSON otherwise",
    )
    scan.add_argument("--device-name", default="lab-host", help=argparse.SUPPRESS)  # the shared context needs it
    add_context_options(scan)
    scan.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``harness sigma scan``."""
    try:
        return _run(args)
    except BrokenPipeError:  # the reader went away (``| head``): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _run(args: argparse.Namespace) -> int:
    from harness.cli._rule_options import placeholders
    from harness.cli.parse import _context, _secrets, view_items
    from harness.rules.sigma import SigmaEngine
    from harness.telemetry.inputs import open_binary
    from harness.telemetry.parsers import ParseStats
    from harness.telemetry.redaction import Redactor
    from harness.views.sigma import SigmaView

    started = time.perf_counter()
    engine = SigmaEngine.from_paths(args.rules, pipelines=args.pipeline, placeholders=placeholders(args.placeholder))
    loaded = time.perf_counter()
    for problem in engine.problems:
        print(f"harness: warning: {problem}", file=sys.stderr)
    if not engine.rules and not engine.correlations:
        print("harness: error: no rule compiled", file=sys.stderr)
        return 2
    # SigmaHQ's auditd rules match raw records: give them those whenever such a rule is loaded.
    auditd_rules = any(r.logsource.service == "auditd" for r in engine.rules)
    auditd_raw = args.auditd_raw and auditd_rules and args.format == "auditd"
    secrets = _secrets(args)
    try:
        redactor = Redactor(secrets) if secrets else None
    except ValueError as exc:  # a too-short value (its text is never echoed)
        raise ConfigError(f"cannot redact: {exc}") from None
    stats = ParseStats(args.format)
    view = SigmaView(_context(args), auditd_raw=auditd_raw)
    progress = Progress.for_inputs(args.files, PROGRESS_MIN_BYTES)
    out = sys.stdout
    dumps = json.dumps
    counts: Counter[str] = Counter()
    titles: dict[str, tuple[str, str | None]] = {}
    try:
        items = view_items(args, view, stats, redactor, opener=progress.open if progress is not None else open_binary)
        for m in engine.match(items):
            if args.summary:
                counts[m.rule_id] += 1
                titles.setdefault(m.rule_id, (m.title, m.level))
            else:
                out.write(dumps(m.to_dict(), default=str) + "\n")
    finally:
        if progress is not None:
            progress.close()
    if args.summary:
        _write_summary(out, counts, titles, len(engine.rules) + len(engine.correlations))
    out.flush()
    if args.stats:
        s = engine.stats
        wall = time.perf_counter() - started
        match_s = max(time.perf_counter() - loaded, 1e-9)
        print(
            f"rules={len(engine.rules) + len(engine.correlations)} load_seconds={loaded - started:.3f} "
            f"records={stats.read} parsed={stats.parsed} events={s.events} pairs={s.pairs} evaluated={s.evaluated} "
            f"matches={s.matches} seconds={wall:.3f} records_per_s={stats.read / match_s:.0f} "
            f"events_per_s={s.events / match_s:.0f} auditd_raw={'yes' if auditd_raw else 'no'}",
            file=sys.stderr,
        )
    if args.stats or stats.unparseable:
        print(stats.summary(), file=sys.stderr)
    if stats.read > 0 and stats.parsed == 0:
        return 1
    return 1 if engine.problems else 0


def _write_summary(out: IO[str], counts: Counter[str], titles: dict[str, tuple[str, str | None]], loaded: int) -> None:
    rows: list[dict[str, Any]] = [
        {"rule_id": rid, "title": titles[rid][0], "level": titles[rid][1], "matches": n}
        for rid, n in sorted(counts.items(), key=lambda kv: (-kv[1], titles[kv[0]][0]))
    ]
    if not out.isatty():
        json.dump({"rules_loaded": loaded, "rules_fired": len(rows), "matches": sum(counts.values()),
                   "rules": rows}, out, indent=1)
        out.write("\n")
        return
    width = max([len(r["title"]) for r in rows] + [5])
    out.write(f"{'matches':>9}  {'level':<13}  {'title':<{width}}  rule id\n")
    for r in rows:
        out.write(f"{r['matches']:>9}  {r['level'] or '-':<13}  {r['title']:<{width}}  {r['rule_id']}\n")
    out.write(f"{sum(counts.values()):>9}  matches of {len(rows)} rules fired, {loaded} loaded\n")

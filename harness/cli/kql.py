"""``harness kql``: run a KQL query locally over Defender-schema tables."""

from __future__ import annotations

import argparse
import json
import re
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, HarnessError
from harness.run.model import parse_now
from harness.telemetry.inputs import is_stdin, local_path

if TYPE_CHECKING:
    from harness.rules.kql.schema import Flavour


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``kql`` subcommand."""
    p = subparsers.add_parser(
        "kql",
        help="run a KQL query over Defender-schema tables",
        description="Run a Sentinel / Defender hunting query locally. Prints one JSON object per row.",
    )
    p.add_argument("query", help="the query text, or @FILE to read it from a file")
    p.add_argument("--table", action="append", default=[], metavar="NAME=FILE",
                   help="load table NAME from FILE (.jsonl rows or Defender-view lines, gzip or plain, or .parquet); "
                        "'-' reads standard input")
    p.add_argument("--now", help="reference time for now()/ago(), ISO 8601 (default: current time). On recorded "
                   "data a query with ago() finds nothing without it: an empty result then says so on stderr")
    p.add_argument("--schema", choices=("defender", "sentinel"),
                   help="schema flavour (default: sentinel if the query uses TimeGenerated, else defender)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``harness kql``; returns the exit code (2 on any query or input error)."""
    from harness.rules.kql import KqlEngine

    engine: KqlEngine | None = None
    try:
        if args.query.startswith("@"):
            path = args.query[1:]
            try:
                text = Path(path).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read query file {path}: {exc.strerror}") from exc
        else:
            path, text = "<query>", args.query
        engine = KqlEngine(args.schema)
        flavour: Flavour = args.schema or ("sentinel" if re.search(r"\bTimeGenerated\b", text) else "defender")
        by_file: dict[str, list[str]] = {}
        for spec in args.table:
            name, sep, file = spec.partition("=")
            if not sep or not name or not file:
                raise ConfigError(f"--table expects NAME=FILE, got {spec!r}")
            # any readable path: a file, "-", /dev/null, a FIFO or a shell's <(...)
            if not (is_stdin(file) or (Path(file).exists() and not Path(file).is_dir())):
                raise ConfigError(f"--table {name}: no such file {file}")
            by_file.setdefault(file, []).append(name)
        now = parse_now(args.now) if args.now else datetime.now(UTC)
        # JSONL tables load only the columns the query names, when that cannot change its result
        from harness.rules.kql.columns import needed_columns

        jsonl = [n for f, ns in by_file.items() if not f.endswith(".parquet") for n in ns]
        only = needed_columns(engine, text, path, now, jsonl, flavour) if jsonl else None
        with ExitStack() as stack:
            for file, names in by_file.items():
                # DuckDB reads files itself (.gz included); standard input is spooled to a file first.
                parquet = file.endswith(".parquet")
                real = str(stack.enter_context(local_path(file, decompress=False,
                                                          suffix=".parquet" if parquet else ".jsonl")))
                if parquet:
                    for name in names:
                        engine.load_parquet(name, real, flavour)
                elif len(names) > 1:
                    engine.load_view(real, names, flavour, only)
                else:
                    engine.load_jsonl(names[0], real, flavour, (only or {}).get(names[0]))
        for name, n in engine.skipped_lines.items():
            if n:
                print(f"harness kql: note: {name}: {n} malformed JSON line(s) skipped", file=sys.stderr)
        result = engine.run(text, path, now)
        rows = list(result.records())
        hint = None if rows else stale_time_hint(engine, text, [n for ns in by_file.values() for n in ns], now)
    except HarnessError as exc:
        print(f"harness kql: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if engine is not None:
            engine.close()
    out = sys.stdout
    for rec in rows:
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    if hint:
        print(f"harness kql: note: {hint}", file=sys.stderr)
    return 0


# --- the empty-result hint ----------------------------------------------------------------------

_UNITS = {"d": 86400.0, "day": 86400.0, "days": 86400.0, "h": 3600.0, "hr": 3600.0, "hrs": 3600.0,
          "hour": 3600.0, "hours": 3600.0, "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
          "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 0.001, "millisecond": 0.001,
          "milliseconds": 0.001}
# ago(24h), ago( 1.5d ), now(-1d): the literal spans a recorded-data query usually carries.
_BOUND = re.compile(r"\b(?:ago\(\s*|now\(\s*-\s*)(\d+(?:\.\d+)?)\s*([a-z]+)\s*\)", re.I)
_TIME_COLUMNS = ("Timestamp", "TimeGenerated")


def earliest_bound(query: str, now: datetime) -> tuple[datetime, str] | None:
    """The earliest time the query's ago()/now(-x) literals reach back to, and that literal."""
    best: tuple[float, str] | None = None
    for m in _BOUND.finditer(query):
        unit = _UNITS.get(m.group(2).lower())
        if unit is None:
            continue
        span = float(m.group(1)) * unit
        if best is None or span > best[0]:
            best = (span, m.group(0))
    return None if best is None else (now - timedelta(seconds=best[0]), best[1])


def stale_time_hint(engine: Any, query: str, tables: list[str], now: datetime) -> str | None:
    """Why an empty result may only be a clock problem: every input row is older than the
    query's earliest ago() bound (recorded data, real now). None when that is not the cause."""
    if not re.search(r"\b(ago|now)\s*\(", query):
        return None
    bound = earliest_bound(query, now)
    if bound is None:
        return None
    newest: datetime | None = None
    for table in dict.fromkeys(tables):
        cols = {r[0] for r in engine.con.execute(f'DESCRIBE "{table}"').fetchall()}
        for col in _TIME_COLUMNS:
            if col in cols:
                value = engine.con.execute(f'SELECT max("{col}") FROM "{table}"').fetchone()[0]
                if isinstance(value, datetime):
                    value = value if value.tzinfo else value.replace(tzinfo=UTC)
                    newest = value if newest is None or value > newest else newest
    if newest is None or newest >= bound[0]:
        return None
    return (f"no rows, and every input row is older than the query's {bound[1]} bound: the newest timestamp is "
            f"{_iso(newest)}, the query ran with now = {_iso(now)}; --now sets now() for ago() "
            f"(for example --now {_iso(newest)})")


def _iso(d: datetime) -> str:
    return d.astimezone(UTC).isoformat().replace("+00:00", "Z")

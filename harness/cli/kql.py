"""``harness kql``: run a KQL query locally over Defender-schema tables."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, HarnessError
from harness.rules.kql.schema import Flavour


def register(subparsers: Any) -> None:
    """Add the ``kql`` subcommand."""
    p = subparsers.add_parser(
        "kql",
        help="run a KQL query over Defender-schema tables",
        description="Run a Sentinel / Defender hunting query locally. Prints one JSON object per row.",
    )
    p.add_argument("query", help="the query text, or @FILE to read it from a file")
    p.add_argument("--table", action="append", default=[], metavar="NAME=FILE",
                   help="load table NAME from FILE (.jsonl rows or Defender-view lines, or .parquet)")
    p.add_argument("--now", help="reference time for now()/ago(), ISO 8601 (default: current time)")
    p.add_argument("--schema", choices=("defender", "sentinel"),
                   help="schema flavour (default: sentinel if the query uses TimeGenerated, else defender)")
    p.set_defaults(func=run)


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        d = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"--now: not an ISO 8601 time: {text!r}") from exc
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC)


def run(args: argparse.Namespace) -> int:
    """Handler of ``harness kql``; returns the exit code (2 on any query or input error)."""
    from harness.rules.kql import KqlEngine

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
            if not Path(file).exists() or Path(file).is_dir():  # FIFOs, /dev/stdin, <(...) are fine
                raise ConfigError(f"--table {name}: no such file {file}")
            by_file.setdefault(file, []).append(name)
        for file, names in by_file.items():
            if file.endswith(".parquet"):
                for name in names:
                    engine.load_parquet(name, file, flavour)
            elif len(names) > 1:
                engine.load_view(file, names, flavour)  # one read for every table of a run's view
            else:
                engine.load_jsonl(names[0], file, flavour)
        result = engine.run(text, path, _parse_now(args.now))
    except HarnessError as exc:
        print(f"harness kql: error: {exc}", file=sys.stderr)
        return 2
    out = sys.stdout
    for rec in result.records():
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0

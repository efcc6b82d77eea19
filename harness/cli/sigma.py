"""``harness sigma check`` / ``harness sigma match``: the local Sigma engine from the shell."""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

from harness.cli import sigma_scan
from harness.cli._rule_options import add_rule_options, placeholders
from harness.errors import ConfigError, SourceLocation
from harness.telemetry.inputs import check_input, open_binary


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sigma`` subcommand family."""
    parser = subparsers.add_parser("sigma", help="check Sigma rules and match them on Sigma-view events")
    sub = parser.add_subparsers(dest="sigma_command", metavar="ACTION")

    check = sub.add_parser("check", help="compile rules and report what does not compile, and why")
    add_rule_options(check)
    check.add_argument("--quiet", action="store_true", help="print only the summary")
    check.set_defaults(func=_check)

    match = sub.add_parser("match", help="match rules on events (Sigma view JSONL); one JSON line per match")
    add_rule_options(match)
    match.add_argument("--events", required=True, help="Sigma-view JSONL file, gzip or plain ('-' for stdin)")
    match.add_argument("--stats", action="store_true", help="print throughput counters on stderr")
    match.set_defaults(func=_match)
    sigma_scan.add_parser(sub)
    parser.set_defaults(func=lambda args: _help(parser))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _check(args: argparse.Namespace) -> int:
    from harness.rules.sigma import SigmaEngine

    engine = SigmaEngine.from_paths(args.rules, pipelines=args.pipeline, placeholders=placeholders(args.placeholder))
    kinds = Counter(p.kind for p in engine.problems)
    if not args.quiet:
        for problem in engine.problems:
            print(problem)
    total = len(engine.rules) + len(engine.correlations) + len(engine.problems)
    print(
        f"{total} rules: {len(engine.rules)} compiled, {len(engine.correlations)} correlations compiled, "
        f"{kinds.get('unsupported', 0)} unsupported, {kinds.get('invalid', 0)} invalid"
    )
    return 1 if engine.problems else 0


def _read_events(path: str) -> Iterator[dict[str, Any]]:
    """Sigma-view events from a JSONL file, gzip or plain, or ``-`` (standard input)."""
    check_input(path)
    with open_binary(path) as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8")
        try:
            for lineno, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    loc = SourceLocation(path, lineno, exc.colno)
                    raise ConfigError(f"invalid JSON: {exc.msg}", loc) from exc
                if not isinstance(record, dict):
                    raise ConfigError("event line is not a JSON object", SourceLocation(path, lineno, 1))
                if not isinstance(record.get("event"), dict):
                    raise ConfigError('line has no "event" object (Sigma view expected)',
                                      SourceLocation(path, lineno, 1))
                yield record
        finally:
            stream.detach()  # open_binary closes what it opened (never standard input)


def _match(args: argparse.Namespace) -> int:
    from harness.rules.sigma import SigmaEngine

    engine = SigmaEngine.from_paths(args.rules, pipelines=args.pipeline, placeholders=placeholders(args.placeholder))
    for problem in engine.problems:
        print(f"harness: warning: {problem}", file=sys.stderr)
    if not engine.rules and not engine.correlations:
        print("harness: error: no rule compiled", file=sys.stderr)
        return 2
    out = sys.stdout
    for m in engine.match(_read_events(args.events)):
        out.write(json.dumps(m.to_dict(), default=str) + "\n")
    if args.stats:
        s = engine.stats
        print(
            f"events={s.events} pairs={s.pairs} evaluated={s.evaluated} matches={s.matches} seconds={s.seconds:.3f}",
            file=sys.stderr,
        )
    return 1 if engine.problems else 0

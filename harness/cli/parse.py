"""``harness parse``: stream telemetry files as JSON lines (raw, Sigma or Defender view)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from harness.errors import ConfigError
from harness.telemetry.inputs import check_input, open_binary
from harness.telemetry.parsers import FORMATS, ParseStats, Record, parse_file
from harness.telemetry.redaction import Redactor
from harness.views.context import ViewContext
from harness.views.events import DefenderRecord, SigmaEvent

if TYPE_CHECKING:
    from harness.views.defender import DefenderView
    from harness.views.sigma import SigmaView

#: Values to redact, one a line (kept out of the process list, unlike --secret).
SECRETS_ENV = "RECON_HARNESS_SECRETS"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``parse`` subcommand."""
    p = subparsers.add_parser(
        "parse",
        help="parse telemetry files into JSON lines (raw, Sigma or Defender view)",
        description=(
            "Stream one JSON object per line to stdout, in input order; a summary of "
            "unparseable records goes to stderr. 'sysmon' detects its input form itself "
            "(bare XML lines, syslog-prefixed lines, journald JSON, Sentinel Syslog rows)."
        ),
    )
    p.add_argument("--format", required=True, choices=FORMATS, help="input format")
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="input files, read in order; gzip-compressed or plain; '-' reads standard input")
    p.add_argument("--view", choices=("sigma", "defender", "raw"), default="sigma", help="output view")
    p.add_argument("--device-name", default="lab-host", help="DeviceName in the Defender view")
    p.add_argument(
        "--auditd-raw",
        action="store_true",
        help="sigma view: also emit every auditd record as a {product: linux, service: auditd} "
        "event (SigmaHQ auditd rules); off by default to keep the output to the semantic events",
    )
    add_context_options(p)
    p.set_defaults(func=run)


def add_context_options(p: argparse.ArgumentParser) -> None:
    """Options of the context a view is built with and of redaction (``parse``, ``sigma scan``)."""
    p.add_argument(
        "--dns",
        action="append",
        default=[],
        metavar="DNSMASQ_LOG",
        help="resolver log used to name connections (DestinationHostname, RemoteUrl)",
    )
    p.add_argument(
        "--inet",
        action="append",
        default=[],
        metavar="INET_LOG",
        help="simulated-internet log used for SNI/Host when DNS does not name a connection",
    )
    p.add_argument(
        "--public-range",
        action="append",
        default=[],
        metavar="CIDR",
        help="class this range as Public (the lab's simulated internet); repeatable",
    )
    p.add_argument(
        "--local-ip",
        action="append",
        default=[],
        metavar="IP",
        help="the detonation host's own address (SourceIp/LocalIP when the source has none)",
    )
    p.add_argument(
        "--secret-file",
        action="append",
        default=[],
        metavar="FILE",
        help="redact every value in FILE (one a line; plain, hex, URL-encoded) from every input line; repeatable. "
        f"${SECRETS_ENV} does the same with one value a line",
    )
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="VALUE",
        help="redact VALUE from every input line; repeatable. WARNING: a value on the command line is visible "
        "to other users in the process list and stays in shell history: prefer --secret-file or "
        f"${SECRETS_ENV}",
    )
    p.add_argument("--year", type=int, default=None, help="year for timestamps that lack one (dnsmasq)")


def _context(args: argparse.Namespace) -> ViewContext:
    try:
        ranges = tuple(ipaddress.ip_network(r, strict=False) for r in args.public_range)
        for ip in args.local_ip:
            ipaddress.ip_address(ip)
    except ValueError as exc:
        raise ConfigError(f"bad address or range: {exc}") from exc
    return ViewContext(device_name=args.device_name, public_ranges=ranges, local_addresses=tuple(args.local_ip))


def _secrets(args: argparse.Namespace) -> list[str]:
    """Values to redact: ``--secret-file`` files and ``$RECON_HARNESS_SECRETS`` (one a line), then
    ``--secret`` (kept for compatibility; --help warns about it)."""
    values: list[str] = []
    for name in args.secret_file:
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--secret-file {name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from exc
        values += _secret_lines(text)
    values += _secret_lines(os.environ.get(SECRETS_ENV, ""))
    values += [v for v in args.secret if v]
    return values


def _secret_lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _records(
    fmt: str, files: list[str], stats: ParseStats, redactor: Redactor | None, year: int | None
) -> Iterator[Record]:
    for name in files:
        if redactor is None or fmt == "evtx":
            yield from parse_file(fmt, name, stats=stats, year=year)
            continue
        # Redact every line before it is parsed: nothing downstream sees the secret.
        from harness.telemetry.parsers import auditd, dnsmasq, inet, nflog, squid, sysmon
        from harness.telemetry.parsers.base import open_lines

        check_input(name)
        lines = redactor.redact_lines(open_lines(name))
        mods = {"auditd": auditd, "sysmon": sysmon, "squid": squid, "nflog": nflog, "inet": inet}
        if fmt == "dnsmasq":
            yield from dnsmasq.parse(lines, file=name, stats=stats, year=year)
        else:
            yield from mods[fmt].parse(lines, file=name, stats=stats)


def _lines(name: str, redactor: Redactor | None) -> Iterator[str]:
    from harness.telemetry.parsers.base import open_lines

    check_input(name)
    lines = open_lines(name)
    return redactor.redact_lines(lines) if redactor is not None else lines


#: Opens an audit log for binary reading (``open_binary``, or a wrapper that counts the bytes read).
Opener = Callable[[str], AbstractContextManager[BinaryIO]]


def view_items(
    args: argparse.Namespace,
    view: SigmaView | DefenderView,
    stats: ParseStats,
    redactor: Redactor | None,
    records: Iterator[Record] | None = None,
    opener: Opener = open_binary,
) -> Iterator[SigmaEvent | DefenderRecord]:
    """The view's items (Sigma events or Defender rows) of ``args.files`` in ``args.format``, in
    input order, once the context of ``args.dns``/``args.inet`` (and of the input itself, for
    dnsmasq and inet logs) is in the view's extractor. ``records``: the input's records if the
    caller already has them streaming; ``opener`` opens audit logs for the C reader."""
    from harness.views.sigma import SigmaView

    if records is None:
        records = _records(args.format, args.files, stats, redactor, args.year)
    ctx_stats = ParseStats("context")
    context: list[Record] = []
    for name in args.dns:
        context.extend(_records("dnsmasq", [name], ctx_stats, redactor, args.year))
    for name in args.inet:
        context.extend(_records("inet", [name], ctx_stats, redactor, args.year))
    if args.format in ("dnsmasq", "inet"):
        # Small logs, read once (standard input cannot be read twice): context (answers, SNI),
        # then emitted from memory.
        kept = list(records)
        context.extend(kept)
        records = iter(kept)
    view.extractor.prepare(context)
    if isinstance(view, SigmaView) and args.format == "auditd":
        # Raw audit lines go straight to the C grouping loop and view (when built).
        for name in args.files:
            check_input(name)
            if redactor is not None:
                batches = view.auditd_stream(_lines(name, redactor), file=name, stats=stats)
            elif view.reads_binary:
                batches = _binary_batches(view, name, stats, opener)
            else:
                batches = view.auditd_file(name, stats=stats)
            for events in batches:
                yield from events
        return
    emit = view.events if isinstance(view, SigmaView) else view.rows
    for rec in records:
        yield from emit(rec)


def _binary_batches(view: SigmaView, name: str, stats: ParseStats, opener: Opener) -> Iterator[list[SigmaEvent]]:
    with opener(name) as raw:
        yield from view.auditd_binary(raw, file=name, stats=stats)


def run(args: argparse.Namespace) -> int:
    """Handler of ``harness parse``; returns the exit code (0, or 1 if nothing parsed)."""
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (``| head``): not an error; silence the flush at exit.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _identity(text: str) -> str:
    return text


def _run(args: argparse.Namespace) -> int:
    from harness.views.defender import DefenderView
    from harness.views.sigma import SigmaView

    secrets = _secrets(args)
    try:
        redactor = Redactor(secrets) if secrets else None
    except ValueError as exc:  # a too-short value (its text is never echoed)
        raise ConfigError(f"cannot redact: {exc}") from None
    ctx = _context(args)
    stats = ParseStats(args.format)
    out = sys.stdout
    dumps = json.dumps
    records = _records(args.format, args.files, stats, redactor, args.year)
    # Input lines are redacted before parsing; the output is scrubbed too, as a safety net
    # for binary inputs (EVTX) whose records cannot be redacted line by line.
    scrub = redactor.redact if redactor is not None else _identity
    if args.view == "raw":
        for rec in records:
            out.write(scrub(dumps(rec.to_raw(), ensure_ascii=False)) + "\n")
    else:
        view: SigmaView | DefenderView = (
            SigmaView(ctx, auditd_raw=args.auditd_raw) if args.view == "sigma" else DefenderView(ctx)
        )
        for item in view_items(args, view, stats, redactor, records):
            out.write(scrub(dumps(item, ensure_ascii=False)) + "\n")
    out.flush()
    print(stats.summary(), file=sys.stderr)
    if stats.read > 0 and stats.parsed == 0:
        return 1
    return 0

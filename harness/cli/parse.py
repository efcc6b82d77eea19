"""``harness parse``: stream telemetry files as JSON lines (raw, Sigma or Defender view)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from harness.errors import ConfigError
from harness.telemetry.parsers import (
    FORMATS,
    ParseStats,
    Record,
    auditd,
    dnsmasq,
    inet,
    nflog,
    parse_file,
    squid,
    sysmon,
)
from harness.telemetry.parsers.base import open_input, open_lines
from harness.telemetry.redaction import Redactor
from harness.views.context import ViewContext

if TYPE_CHECKING:
    from harness.views.defender import DefenderView
    from harness.views.sigma import SigmaView


def register(subparsers: Any) -> None:
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
    p.add_argument("files", nargs="+", metavar="FILE", help="input files (read in order; '-' is stdin, .gz is read)")
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


def _context(args: argparse.Namespace) -> ViewContext:
    try:
        ranges = tuple(ipaddress.ip_network(r, strict=False) for r in args.public_range)
        for ip in args.local_ip:
            ipaddress.ip_address(ip)
    except ValueError as exc:
        raise ConfigError(f"bad address or range: {exc}") from exc
    return ViewContext(device_name=args.device_name, public_ranges=ranges, local_addresses=tuple(args.local_ip))


#: Opens an input by name for binary reading (``open_input``, or a caller's wrapper of it).
Opener = Callable[[str], AbstractContextManager[BinaryIO]]


def _records(
    fmt: str,
    files: list[str],
    stats: ParseStats,
    redactor: Redactor | None,
    year: int | None,
    opener: Opener = open_input,
) -> Iterator[Record]:
    for name in files:
        if fmt == "evtx":  # a binary format read by offset: from a real file
            with _seekable(name) as path:
                yield from parse_file(fmt, path, stats=stats, year=year)
            continue
        with opener(name) as raw:
            if redactor is None and fmt == "auditd":  # the C loop reads the file itself
                yield from auditd.parse_binary(raw, file=name, stats=stats)
                continue
            # Redact every line before it is parsed: nothing downstream sees the secret.
            lines = open_lines(raw) if redactor is None else redactor.redact_lines(open_lines(raw))
            if fmt == "dnsmasq":
                yield from dnsmasq.parse(lines, file=name, stats=stats, year=year or _file_year(name))
            else:
                mods = {"auditd": auditd, "sysmon": sysmon, "squid": squid, "nflog": nflog, "inet": inet}
                yield from mods[fmt].parse(lines, file=name, stats=stats)


def _file_year(name: str) -> int | None:
    return None if name == "-" else datetime.fromtimestamp(Path(name).stat().st_mtime, UTC).year


@contextmanager
def _seekable(name: str) -> Iterator[Path]:
    """``name`` as a path, or standard input / a ``.gz`` file copied into a temporary file."""
    if name != "-" and not name.endswith(".gz"):
        yield Path(name)
        return
    with open_input(name) as raw, tempfile.NamedTemporaryFile(prefix="harness-input-") as tmp:
        shutil.copyfileobj(raw, tmp)
        tmp.flush()
        yield Path(tmp.name)


def add_context_options(p: Any) -> None:
    """Options of the context a view is built with (shared by ``parse`` and ``sigma scan``)."""
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
        "--secret",
        action="append",
        default=[],
        metavar="VALUE",
        help="redact this value (plain, hex, URL-encoded) from every input line; repeatable",
    )
    p.add_argument("--year", type=int, default=None, help="year for timestamps that lack one (dnsmasq)")


def view_items(
    args: argparse.Namespace,
    view: SigmaView | DefenderView,
    stats: ParseStats,
    redactor: Redactor | None,
    opener: Opener = open_input,
) -> Iterator[dict[str, Any]]:
    """The view's items (Sigma events or Defender rows) of ``args.files`` in ``args.format``, in
    input order, after the context of ``args.dns`` and ``args.inet`` (and of the input itself,
    for dnsmasq and inet logs) is in the view's extractor."""
    from harness.views.sigma import SigmaView

    ctx_stats = ParseStats("context")
    context: list[Record] = []
    for name in args.dns:
        context.extend(_records("dnsmasq", [name], ctx_stats, redactor, args.year))
    for name in args.inet:
        context.extend(_records("inet", [name], ctx_stats, redactor, args.year))
    own: list[Record] | None = None
    if args.format in ("dnsmasq", "inet"):
        # Small logs: read once, used as context (answers, SNI) and emitted (stdin cannot be re-read).
        own = list(_records(args.format, args.files, stats, redactor, args.year, opener))
        context.extend(own)
    view.extractor.prepare(context)
    if isinstance(view, SigmaView) and args.format == "auditd":
        # Raw audit lines go straight to the C grouping loop and view (when built).
        for name in args.files:
            with opener(name) as raw:
                batches = (
                    view.auditd_binary(raw, file=name, stats=stats)
                    if redactor is None
                    else view.auditd_stream(redactor.redact_lines(open_lines(raw)), file=name, stats=stats)
                )
                for events in batches:
                    yield from events
        return
    emit = view.events if isinstance(view, SigmaView) else view.rows
    for rec in own if own is not None else _records(args.format, args.files, stats, redactor, args.year, opener):
        yield from emit(rec)


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

    redactor = Redactor(args.secret) if args.secret else None
    stats = ParseStats(args.format)
    out = sys.stdout
    dumps = json.dumps
    # Input lines are redacted before parsing; the output is scrubbed too, as a safety net
    # for binary inputs (EVTX) whose records cannot be redacted line by line.
    scrub = redactor.redact if redactor is not None else _identity
    if args.view == "raw":
        for rec in _records(args.format, args.files, stats, redactor, args.year):
            out.write(scrub(dumps(rec.to_raw(), ensure_ascii=False)) + "\n")
    else:
        ctx = _context(args)
        view = SigmaView(ctx, auditd_raw=args.auditd_raw) if args.view == "sigma" else DefenderView(ctx)
        for item in view_items(args, view, stats, redactor):
            out.write(scrub(dumps(item, ensure_ascii=False)) + "\n")
    out.flush()
    print(stats.summary(), file=sys.stderr)
    if stats.read > 0 and stats.parsed == 0:
        return 1
    return 0

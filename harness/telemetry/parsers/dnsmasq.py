"""dnsmasq query log (``--log-queries=extra --log-facility=FILE``).

Line: ``Nov 28 05:35:38 dnsmasq[4762]: 1 198.51.100.250/60623 query[A] api.shodan.io from
198.51.100.250``. With ``extra`` each line carries the query serial and the client
``ip/port``; answers follow as ``reply``/``cached``/``config``/``/etc/hosts`` lines with the
same serial (``config NAME is NODATA-IPv6`` and ``is NXDOMAIN`` are answers too). Without
``extra`` the serial and client are missing and are left ``None``.

``fields``: ``serial``, ``client_ip``, ``client_port``, ``action`` (``query``, ``reply``,
``cached``, ``config``, ``forwarded``, ``hosts``, or ``log`` for daemon messages),
``qtype`` (queries), ``name``, ``answer`` (answers), ``server`` (forwarded),
``message`` (the text after the header), ``pid``.
The header time has no year and is the writer's local time (the lab runs in UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.collection import Source
from harness.telemetry.inputs import is_stdin
from harness.telemetry.parsers._syslogtime import bsd_time
from harness.telemetry.parsers.base import ParseStats, Record, open_lines

SOURCE = Source.DNSMASQ.value
_ANSWER_ACTIONS = {"reply": "reply", "cached": "cached", "config": "config", "/etc/hosts": "hosts"}


def _parse_message(msg: str) -> dict[str, Any]:
    out: dict[str, Any] = {"serial": None, "client_ip": None, "client_port": None}
    words = msg.split()
    # "extra" prefix: "<serial> <ip>/<port> ..."
    if len(words) >= 3 and words[0].isdigit() and "/" in words[1]:
        ip, _, port = words[1].rpartition("/")
        out["serial"] = int(words[0])
        out["client_ip"] = ip
        out["client_port"] = int(port) if port.isdigit() else None
        words = words[2:]
    if words and words[0].startswith("query[") and words[0].endswith("]") and len(words) >= 2:
        out["action"] = "query"
        out["qtype"] = words[0][6:-1]
        out["name"] = words[1]
        if len(words) >= 4 and words[2] == "from":
            out["client_ip"] = out["client_ip"] or words[3]
        return out
    if words and words[0] in _ANSWER_ACTIONS and len(words) >= 4 and words[2] == "is":
        out["action"] = _ANSWER_ACTIONS[words[0]]
        out["name"] = words[1]
        out["answer"] = " ".join(words[3:])
        return out
    if words and words[0] == "forwarded" and len(words) >= 4 and words[2] == "to":
        out["action"] = "forwarded"
        out["name"] = words[1]
        out["server"] = words[3]
        return out
    out["action"] = "log"
    return out


def parse(
    lines: Iterable[str], *, file: str = "-", stats: ParseStats | None = None, year: int | None = None
) -> Iterator[Record]:
    """Stream dnsmasq log lines as records (``year`` defaults to the current UTC year)."""
    st = stats if stats is not None else ParseStats(SOURCE)
    yr = year if year is not None else datetime.now(UTC).year
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        st.read += 1
        head, sep, msg = line.partition(": ")
        if not sep or "dnsmasq" not in head:
            st.bad(file, n, "not a dnsmasq log line (no 'dnsmasq[pid]: ' header)")
            continue
        stamp, _, prog = head.rpartition(" ")
        if not prog.startswith("dnsmasq"):
            st.bad(file, n, "not a dnsmasq log line (no 'dnsmasq[pid]: ' header)")
            continue
        # "Nov 28 05:35:38" or with a host name before the program: keep the first 3 words.
        ts = bsd_time(" ".join(stamp.split()[:3]), yr)
        if ts is None:
            st.bad(file, n, "bad syslog timestamp")
            continue
        fields = _parse_message(msg)
        fields["message"] = msg
        lb, rb = prog.find("["), prog.find("]")
        fields["pid"] = int(prog[lb + 1 : rb]) if 0 < lb < rb and prog[lb + 1 : rb].isdigit() else None
        st.parsed += 1
        yield Record(SOURCE, fields, file, n, ts)


def file_year(path: Path) -> int:
    """The year of a file's modification time (dnsmasq's lines have none); this year for standard input."""
    try:
        if is_stdin(path):
            raise OSError("standard input has no modification time")
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).year
    except OSError:
        return datetime.now(UTC).year


def read_file(path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]:
    """:func:`parse` of a file's lines (the parser registry's entry point); ``year`` defaults to the
    year of the file's modification time."""
    return parse(open_lines(path), file=file, stats=stats, year=year or file_year(path))

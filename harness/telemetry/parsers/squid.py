"""Squid access log: the native format and the harness's own ``logformat``.

Native (``logformat squid``)::

    %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt

Harness format (:data:`HARNESS_LOGFORMAT`, configure Squid with
``logformat harness <...>`` and ``access_log stdio:/PATH harness``, see
:data:`SQUID_CONF_LINES`): the native fields plus the W3C ones Sigma's proxy rules need
(cs-host ``%>rd``, cs-username ``%un``, client port, User-Agent and Referer in quotes).
Detected per line (a harness line has 14 fields with quoted UA/Referer).

``fields`` (names of the Squid format codes, spelled out): ``time``, ``elapsed_ms``,
``client_ip``, ``client_port``, ``result_code`` (``TCP_TUNNEL``), ``status`` (int),
``bytes``, ``method``, ``url``, ``host`` (``%>rd``, or derived from the URL in native
lines), ``user``, ``hierarchy``, ``server_ip``, ``mime_type``, ``user_agent``, ``referer``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import collection
from harness.collection import Source
from harness.telemetry.parsers.base import ParseStats, Record, open_lines

SOURCE = Source.SQUID.value

#: The logformat the lab's Squid must be configured with (``logformat harness ...``); defined with
#: the other contracts between lab and telemetry in :mod:`harness.collection`.
HARNESS_LOGFORMAT = collection.HARNESS_LOGFORMAT
# Checked against Squid 5.7 (Debian 12): the `"` modifier only escapes embedded quotes
# (\"), so the header fields are wrapped in literal quotes; URLs never hold spaces. With
# Squid's default `strip_query_terms on`, %ru ends at "?": query strings (API keys) are
# never logged by Squid.
#: The squid.conf lines that enable it (the lead's collector writes these).
SQUID_CONF_LINES = (f"logformat harness {HARNESS_LOGFORMAT}", "access_log stdio:{path} harness")


def _dash(value: str) -> str | None:
    return None if value == "-" else value


def _host_of(url: str, method: str) -> str | None:
    if method == "CONNECT":
        return url.rpartition(":")[0] or url
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def parse_line(line: str) -> dict[str, Any]:
    """Parse one access.log line (either format); raises ``ValueError`` when it is not one."""
    if '"' in line:
        words = shlex.split(line, posix=True)
        if len(words) != 14:
            raise ValueError(f"harness format needs 14 fields, got {len(words)}")
        ts, elapsed, client, cport, status_part, size, method, url, host, user, hier, mime, ua, ref = words
        code, _, status = status_part.partition("/")
        hier_code, _, server = hier.partition("/")
        fields: dict[str, Any] = {
            "time": float(ts),
            "elapsed_ms": int(elapsed),
            "client_ip": client,
            "client_port": int(cport) if cport.isdigit() else None,
            "result_code": code,
            "status": int(status) if status.isdigit() else None,
            "bytes": int(size) if size.isdigit() else None,
            "method": method,
            "url": url,
            "host": _dash(host) or _host_of(url, method),
            "user": _dash(user),
            "hierarchy": hier_code,
            "server_ip": _dash(server),
            "mime_type": _dash(mime),
            "user_agent": _dash(ua),
            "referer": _dash(ref),
        }
        return fields
    words = line.split()
    if len(words) != 10:
        raise ValueError(f"native format needs 10 fields, got {len(words)}")
    ts, elapsed, client, status_part, size, method, url, user, hier, mime = words
    code, _, status = status_part.partition("/")
    hier_code, _, server = hier.partition("/")
    return {
        "time": float(ts),
        "elapsed_ms": int(elapsed),
        "client_ip": client,
        "client_port": None,
        "result_code": code,
        "status": int(status) if status.isdigit() else None,
        "bytes": int(size) if size.isdigit() else None,
        "method": method,
        "url": url,
        "host": _host_of(url, method),
        "user": _dash(user),
        "hierarchy": hier_code,
        "server_ip": _dash(server),
        "mime_type": _dash(mime),
        "user_agent": None,
        "referer": None,
    }


def parse(lines: Iterable[str], *, file: str = "-", stats: ParseStats | None = None) -> Iterator[Record]:
    """Stream Squid access-log records."""
    st = stats if stats is not None else ParseStats(SOURCE)
    for n, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        st.read += 1
        try:
            fields = parse_line(line)
        except ValueError as exc:
            st.bad(file, n, f"not a Squid access-log line: {exc}")
            continue
        st.parsed += 1
        yield Record(SOURCE, fields, file, n, fields["time"])


def read_file(path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]:
    """:func:`parse` of a file's lines (the parser registry's entry point; ``year`` is not needed)."""
    return parse(open_lines(path), file=file, stats=stats)

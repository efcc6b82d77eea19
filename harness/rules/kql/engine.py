"""Run KQL over Defender-schema tables held in DuckDB.

:class:`KqlEngine` owns one in-memory DuckDB connection with the helper functions the
translator's SQL calls (``kql_*`` macros and Python UDFs), loads tables from JSONL (bare rows or
the Defender view's ``{"table", "row"}`` lines) or Parquet, and runs queries with ``now()`` and
``ago()`` pinned to a reference time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import functools
import io
import ipaddress
import json
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from harness.errors import RuleError, SourceLocation, UnsupportedError
from harness.rules.kql import syntax
from harness.rules.kql.arraysort import array_sort
from harness.rules.kql.ipv4text import has_ipv4
from harness.rules.kql.schema import Flavour, table_columns
from harness.rules.kql.sqlbase import SQL_TYPES, py_has, q, ts_sql
from harness.rules.kql.translate import Translation, translate
from harness.rules.kql.xmljson import parse_xml

_MACROS = [
    # tostring() of a dynamic value: strings unquoted, null as '', anything else as JSON text
    "CREATE MACRO kql_dstr(j) AS CASE WHEN j IS NULL THEN '' WHEN json_type(j) = 'NULL' THEN '' "
    "WHEN json_type(j) = 'VARCHAR' THEN json_extract_string(j, '$') ELSE CAST(j AS VARCHAR) END",
    # parse_json(): Kusto's compact JSON text (kql_json_text)
    "CREATE MACRO kql_parse_json(x) AS CAST(kql_json_text(x) AS JSON)",
    # ISO 8601 in UTC ('...Z', what the views write) takes the fast path; other offsets go through TIMESTAMPTZ
    "CREATE MACRO kql_todt(x) AS CASE WHEN x IS NULL OR x = '' THEN NULL "
    "WHEN ends_with(x, 'Z') THEN TRY_CAST(x[1:-2] AS TIMESTAMP) "
    "ELSE TRY_CAST(TRY_CAST(x AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP) END",
]


# DuckDB's own default is 80% of RAM; a replay shares the machine with the lab and the sensors
MEMORY_FRACTION = 0.5


def memory_limit_mib(fraction: float = MEMORY_FRACTION) -> int:
    """A share of physical RAM in MiB (RECON_HARNESS_KQL_MEMORY_MIB overrides), at least 256."""
    override = os.environ.get("RECON_HARNESS_KQL_MEMORY_MIB")
    if override:
        return max(256, int(override))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 4 << 30
    return max(256, int(total * fraction) >> 20)


def _kusto_number(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, list):
        return [_kusto_number(x) for x in v]
    if isinstance(v, dict):
        return {k: _kusto_number(x) for k, x in v.items()}
    return v


def _json_text(x: str | None) -> str | None:
    """parse_json()'s value as compact JSON text, numbers printed as Kusto prints them.

    The parse_json page's example: ``{"value":118.0,"min":100.0}`` reads back as
    ``{"value":118,"min":100}``, so ``tostring(d.value)`` is ``118``. Invalid JSON stays a
    string value, as in Kusto.
    """
    if x is None or x == "":
        return None
    try:
        v = json.loads(x)
    except ValueError:
        return json.dumps(x, ensure_ascii=False)
    return json.dumps(_kusto_number(v), separators=(",", ":"), ensure_ascii=False)


def _codepoints(codes: list[int | None] | None) -> str | None:
    """unicode_codepoints_to_string(): null when a value is not a code point."""
    if codes is None or any(c is None or not 0 <= c <= 0x10FFFF or 0xD800 <= c <= 0xDFFF for c in codes):
        return None
    return "".join(chr(c) for c in codes if c is not None)


def _argv(cmd: str | None) -> str:
    """CommandLineToArgvW's split, as a JSON array (parse_command_line's "windows" parser).

    The program name ends at whitespace or its closing quote, with no escapes; later arguments
    follow the backslash rules: 2n backslashes and a quote are n backslashes and a quote toggle,
    2n+1 backslashes and a quote are n backslashes and a literal quote, and ``""`` inside quotes
    is a literal quote.
    """
    s = cmd or ""
    out: list[str] = []
    i, n = 0, len(s)
    if n and s[0] == '"':
        j = s.find('"', 1)
        j = n if j < 0 else j
        out.append(s[1:j])
        i = j + 1
    else:
        j = i
        while j < n and s[j] not in " \t":
            j += 1
        out.append(s[i:j])
        i = j
    while True:
        while i < n and s[i] in " \t":
            i += 1
        if i >= n:
            break
        arg, quoted = [], False
        while i < n and (quoted or s[i] not in " \t"):
            if s[i] == "\\":
                k = i
                while k < n and s[k] == "\\":
                    k += 1
                nb = k - i
                if k < n and s[k] == '"':
                    arg.append("\\" * (nb // 2))
                    if nb % 2:  # an escaped quote; an even run leaves the quote to toggle quoting
                        arg.append('"')
                        k += 1
                else:
                    arg.append("\\" * nb)
                i = k
                continue
            if s[i] == '"':
                if quoted and i + 1 < n and s[i + 1] == '"':
                    arg.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
                continue
            arg.append(s[i])
            i += 1
        out.append("".join(arg))
    return json.dumps(out, ensure_ascii=False)


def _merge_bags(bags: list[str | None] | None) -> str:
    """make_bag(): the property bags of a group merged (a key seen twice keeps one of its values)."""
    out: dict[str, Any] = {}
    for b in bags or []:
        v = json.loads(b) if b else None
        if isinstance(v, dict):
            for k, x in v.items():
                out.setdefault(k, x)
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def _parse_csv(x: str | None) -> str:
    """parse_csv(): the fields of the first CSV record, as a JSON array of strings."""
    rows = list(csv.reader(io.StringIO(x or "")))
    return json.dumps(rows[0] if rows else [], ensure_ascii=False)


def _b64_bytes(x: str | None) -> str | None:
    """base64_decode_toarray(): the decoded bytes as a JSON array of numbers (null if not base64)."""
    try:
        return json.dumps(list(base64.b64decode(x or "", validate=True)))
    except (binascii.Error, ValueError):
        return None


def _array_index_of(arr: str | None, value: str | None, start: int | None, length: int | None,
                    occurrence: int | None) -> int | None:
    """array_index_of(arr, value[, start[, length[, occurrence]]]) (array-index-of page).

    A negative start counts from the end, length -1 searches to the end, and the index returned
    is the occurrence-th match's, in the whole array; -1 when there is none.
    """
    try:
        items = json.loads(arr) if arr else None
        want = json.loads(value) if value is not None else None
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    n = len(items)
    s = 0 if start is None else (start if start >= 0 else max(n + start, 0))
    end = n if length is None or length < 0 else min(n, s + length)
    k = 1 if occurrence is None else occurrence
    if k < 1:
        return None
    for i in range(s, end):
        if items[i] == want and isinstance(items[i], bool) == isinstance(want, bool):
            k -= 1
            if k == 0:
                return i
    return -1


def _ipv4_masked(a: str | None, b: str | None, prefix: int | None) -> tuple[int, int] | None:
    """Two IPv4 addresses (either may carry /prefix) masked to the smallest prefix of the three."""
    def parse(s: str | None) -> tuple[int, int] | None:
        if not s:
            return None
        addr, _, bits = s.strip().partition("/")
        try:
            n = int(bits) if bits else 32
            return (int(ipaddress.IPv4Address(addr)), n) if 0 <= n <= 32 else None
        except ValueError:
            return None
    pa, pb = parse(a), parse(b)
    if pa is None or pb is None or (prefix is not None and not 0 <= prefix <= 32):
        return None
    bits = min(pa[1], pb[1], 32 if prefix is None else prefix)
    mask = ((1 << bits) - 1) << (32 - bits)
    return pa[0] & mask, pb[0] & mask


def _ipv4_compare(a: str | None, b: str | None, prefix: int | None) -> int | None:
    """ipv4_compare(): -1, 0 or 1 on the masked addresses (ipv4-compare page); null if one is invalid."""
    m = _ipv4_masked(a, b, prefix)
    return None if m is None else (m[0] > m[1]) - (m[0] < m[1])


def _ipv4_any_range(ip: str | None, ranges: list[str | None] | None) -> bool | None:
    """ipv4_is_in_any_range(): whether the address is in one of the prefix ranges."""
    results = [_ipv4_in_range(ip, r) for r in ranges or []]
    if any(results):
        return True
    return None if any(r is None for r in results) and not ip else False


def _ipv4_is_private(ip: str | None) -> bool | None:
    if not ip:
        return None
    try:
        addr = ipaddress.IPv4Address(ip.split("/")[0])
    except ValueError:
        return None
    return any(addr in ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _ipv4_in_range(ip: str | None, rng: str | None) -> bool | None:
    if not ip or not rng:
        return None
    try:
        return ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(rng, strict=False)
    except ValueError:
        return None


def _parse_ipv4(ip: str | None) -> int | None:
    if not ip:
        return None
    try:
        return int(ipaddress.IPv4Network(ip, strict=False).network_address)
    except ValueError:
        return None


def _b64decode(x: str | None) -> str:
    if not x:
        return ""
    try:
        return base64.b64decode(x + "=" * (-len(x) % 4), validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return ""


def _parse_version(v: str | None) -> str | None:
    """Kusto's parse_version: up to four numeric parts; the result compares like the version."""
    if not v:
        return None
    parts = v.strip().split(".")
    if not 1 <= len(parts) <= 4 or not all(re.fullmatch(r"\d{1,8}", p) for p in parts):
        return None
    parts += ["0"] * (4 - len(parts))
    return ".".join(p.zfill(8) for p in parts)


def _parse_url(u: str | None) -> str:
    try:
        p = urllib.parse.urlsplit(u or "")
        port = p.port
    except ValueError:
        return "{}"
    if not p.scheme:
        return "{}"
    return json.dumps({
        "Scheme": p.scheme, "Host": p.hostname or "", "Port": str(port) if port else "", "Path": p.path,
        "Username": p.username or "", "Password": p.password or "",
        "Query Parameters": dict(urllib.parse.parse_qsl(p.query)), "Fragment": p.fragment,
    })


def _span_str(us: int | None) -> str | None:
    return None if us is None else format_timespan(timedelta(microseconds=us))


_P64 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)
_M64 = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def xxh64(data: bytes, seed: int = 0) -> int:
    """XXH64, the hash Kusto's hash() uses (unsigned 64-bit)."""
    p1, p2, p3, p4, p5 = _P64
    n = len(data)
    i = 0

    def rnd(acc: int, lane: int) -> int:
        return (_rotl((acc + lane * p2) & _M64, 31) * p1) & _M64

    if n >= 32:
        v = [(seed + p1 + p2) & _M64, (seed + p2) & _M64, seed, (seed - p1) & _M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = rnd(v[k], int.from_bytes(data[i + 8 * k : i + 8 * k + 8], "little"))
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for k in range(4):
            h = ((h ^ rnd(0, v[k])) * p1 + p4) & _M64
    else:
        h = (seed + p5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        h ^= rnd(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * p1 + p4) & _M64
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * p1) & _M64
        h = (_rotl(h, 23) * p2 + p3) & _M64
        i += 4
    while i < n:
        h ^= (data[i] * p5) & _M64
        h = (_rotl(h, 11) * p1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * p2) & _M64
    h ^= h >> 29
    h = (h * p3) & _M64
    h ^= h >> 32
    return h


def _kql_xxh64(x: str | None, is_string: bool) -> int | None:
    if x is None:
        return None
    data = x.encode("utf-8") if is_string else int(x).to_bytes(8, "little", signed=True)
    v = xxh64(data)
    return v - (1 << 64) if v >= 1 << 63 else v


def _totimespan(x: str | None) -> timedelta | None:
    if not x:
        return None
    m = re.fullmatch(r"\s*(-)?(?:(\d+)\.)?(\d+):(\d+)(?::(\d+(?:\.\d+)?))?\s*", x)
    if not m:
        return None
    secs = int(m.group(2) or 0) * 86400 + int(m.group(3)) * 3600 + int(m.group(4)) * 60 + float(m.group(5) or 0)
    return timedelta(seconds=-secs if m.group(1) else secs)


def _format_timespan_custom(us: int | None, fmt: str | None) -> str | None:
    """format_timespan() with .NET-style d/h/m/s/f specifiers (zero-padded to their length)."""
    if us is None or fmt is None:
        return None
    sign = "-" if us < 0 else ""
    us = abs(us)
    parts = {"d": us // 86_400_000_000, "h": us // 3_600_000_000 % 24, "m": us // 60_000_000 % 60,
             "s": us // 1_000_000 % 60}
    out, i = "", 0
    while i < len(fmt):
        c = fmt[i]
        j = i
        while j < len(fmt) and fmt[j] == c:
            j += 1
        n = j - i
        if c in parts:
            out += str(parts[c]).zfill(n)
        elif c in "fF":
            out += f"{us % 1_000_000:06d}0"[:n]
        else:
            out += fmt[i:j]
        i = j
    return sign + out


def format_timespan(td: timedelta) -> str:
    """Kusto's timespan text: ``[-][d.]hh:mm:ss[.fffffff]``."""
    total_us = td.days * 86400 * 1_000_000 + td.seconds * 1_000_000 + td.microseconds
    sign = "-" if total_us < 0 else ""
    total_us = abs(total_us)
    days, rem = divmod(total_us, 86400 * 1_000_000)
    hours, rem = divmod(rem, 3600 * 1_000_000)
    minutes, rem = divmod(rem, 60 * 1_000_000)
    secs, us = divmod(rem, 1_000_000)
    out = f"{sign}{f'{days}.' if days else ''}{hours:02d}:{minutes:02d}:{secs:02d}"
    if us:
        out += f".{us:06d}0"
    return out


def format_datetime(d: datetime) -> str:
    """ISO 8601 UTC with Kusto's seven fractional digits."""
    if d.tzinfo is not None:
        d = d.astimezone(UTC).replace(tzinfo=None)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def to_json_value(value: Any, ktype: str) -> Any:
    """One cell in the CLI's JSON form."""
    if value is None:
        return "" if ktype == "string" else None
    if ktype == "datetime" and isinstance(value, datetime):
        return format_datetime(value)
    if ktype == "timespan" and isinstance(value, timedelta):
        return format_timespan(value)
    if ktype == "dynamic":
        return json.loads(value) if isinstance(value, str) else value
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")  # not JSON numbers
    return value


@dataclass(frozen=True)
class KqlResult:
    """Rows of a query, with the output columns (name, Kusto type) in order."""

    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> Iterator[dict[str, Any]]:
        """Rows as dicts in output-column order, with values in their JSON form."""
        for r in self.rows:
            yield {n: to_json_value(v, t) for (n, t), v in zip(self.columns, r, strict=True)}


class KqlEngine:
    """A DuckDB-backed KQL engine over Defender-schema tables."""

    def __init__(self, flavour: Flavour | None = None,
                 external_data: Callable[[str], str | Path | None] | None = None) -> None:
        self.flavour = flavour
        # where externaldata's URLs have local copies (the engine itself never goes to the network)
        self.external_data: Callable[[str], str | Path | None] = external_data or (lambda url: None)
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        # a query such as `range x from 1 to 1e9 step 1 | mv-expand ...` would otherwise grow until
        # the machine swaps: cap DuckDB at a share of RAM, so it spills or fails with an error
        self.con.execute(f"SET memory_limit = '{memory_limit_mib()}MiB'")
        self._register_udfs()
        for m in _MACROS:
            self.con.execute(m)
        self.tables: dict[str, list[tuple[str, str]]] = {}
        self.load_stats: dict[str, int] = {}
        #: malformed JSONL lines skipped per table (the valid ones are loaded)
        self.skipped_lines: dict[str, int] = {}
        #: tables loaded with only the columns a query names (harness.rules.kql.columns)
        self.lean: set[str] = set()
        #: translations by (query, path, flavour, shapes of non-schema tables): a detection is
        #: translated once per run, not once per detonation (now() reads a session variable)
        self._translations: dict[tuple[Any, ...], Translation] = {}

    def _register_udfs(self) -> None:
        from duckdb.sqltypes import BIGINT, BOOLEAN, INTERVAL, VARCHAR

        # typed loosely: duckdb's stubs do not accept null_handling as a plain string
        f: Any = self.con.create_function
        f("kql_json_text", _json_text, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_codepoints", _codepoints, [duckdb.list_type(BIGINT)], VARCHAR, null_handling="special")
        f("kql_argv", _argv, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_ipv4_compare", _ipv4_compare, [VARCHAR, VARCHAR, BIGINT], BIGINT, null_handling="special")
        f("kql_ipv4_any_range", _ipv4_any_range, [VARCHAR, duckdb.list_type(VARCHAR)], BOOLEAN,
          null_handling="special")
        f("kql_array_index_of", _array_index_of, [VARCHAR, VARCHAR, BIGINT, BIGINT, BIGINT], BIGINT,
          null_handling="special")
        f("kql_merge_bags", _merge_bags, [duckdb.list_type(VARCHAR)], VARCHAR, null_handling="special")
        f("kql_parse_csv", _parse_csv, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_parse_xml", parse_xml, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_has_ipv4", has_ipv4, [VARCHAR, VARCHAR, BOOLEAN], BOOLEAN, null_handling="special")
        f("kql_array_sort", array_sort, [VARCHAR, BOOLEAN, BOOLEAN], VARCHAR, null_handling="special")
        f("kql_b64_bytes", _b64_bytes, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_has", py_has, [VARCHAR, VARCHAR, BOOLEAN, BOOLEAN, BOOLEAN], BOOLEAN, null_handling="special")
        f("kql_ipv4_is_private", _ipv4_is_private, [VARCHAR], BOOLEAN, null_handling="special")
        f("kql_ipv4_in_range", _ipv4_in_range, [VARCHAR, VARCHAR], BOOLEAN, null_handling="special")
        f("kql_parse_ipv4", _parse_ipv4, [VARCHAR], BIGINT, null_handling="special")
        f("kql_b64decode", _b64decode, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_parse_version", _parse_version, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_parse_url", _parse_url, [VARCHAR], VARCHAR, null_handling="special")
        f("kql_span_str", _span_str, [BIGINT], VARCHAR)
        f("kql_format_timespan", _format_timespan_custom, [BIGINT, VARCHAR], VARCHAR)
        f("kql_xxh64", _kql_xxh64, [VARCHAR, BOOLEAN], BIGINT, null_handling="special")
        f("kql_totimespan", _totimespan, [VARCHAR], INTERVAL, null_handling="special")

    def close(self) -> None:
        """Close the DuckDB connection. An engine still open at interpreter exit makes DuckDB's
        bindings (nanobind) print dozens of "leaked instance" lines after the run's output."""
        self.con.close()
        self.tables.clear()

    def reset(self) -> None:
        """Drop every loaded table, so the connection can serve another run's rows."""
        for table in list(self.tables):
            self.con.execute(f"DROP TABLE IF EXISTS {q(table)}")
        self.tables.clear()
        self.load_stats.clear()
        self.skipped_lines.clear()
        self.lean.clear()

    # loading
    def _flavour_for(self, query: str | None) -> Flavour:
        if self.flavour is not None:
            return self.flavour
        if query is not None and re.search(r"\bTimeGenerated\b", query):
            return "sentinel"
        return "defender"

    def _columns(self, table: str, flavour: Flavour) -> list[tuple[str, str]]:
        cols = table_columns(table, flavour)
        if cols is None:
            raise RuleError(f"unknown table '{table}' (not in the Defender advanced-hunting schema)")
        return cols

    @contextlib.contextmanager
    def _readable(self, path: str | Path) -> Iterator[str]:
        """A regular file with ``path``'s content.

        A FIFO, /dev/stdin or a process substitution (``<(zcat x.gz)``) can be read once only and
        reports size 0, so its content is copied to a temporary file first; /dev/null is an empty
        input, which gives an empty table of the schema.
        """
        p = Path(path)
        if p.is_file():
            yield str(p)
            return
        with tempfile.TemporaryDirectory(prefix="kql-table-") as d:
            copy = Path(d) / "table"
            with p.open("rb") as src, copy.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            yield str(copy)

    def load_jsonl(self, table: str, path: str | Path, flavour: Flavour = "defender",
                   only: Collection[str] | None = None) -> int:
        """Load ``table`` from JSONL: bare rows, or ``{"table", "row"}`` lines (other tables skipped).

        Values are converted to the schema's types; a cell that does not convert becomes null.
        ``only`` keeps the named columns of the schema (see :func:`columns.needed_columns`).
        Returns the number of rows loaded.
        """
        with self._readable(path) as p:
            return self._load_jsonl(table, p, flavour, only)

    def _load_jsonl(self, table: str, p: str, flavour: Flavour, only: Collection[str] | None = None) -> int:
        n = self._load_jsonl_rows(table, p, flavour, only)
        if only is not None:
            self.lean.add(table)
        return n

    def _load_jsonl_rows(self, table: str, p: str, flavour: Flavour, only: Collection[str] | None) -> int:
        cols = self._subset(self._columns(table, flavour), only)
        if Path(p).stat().st_size == 0:
            return self._create(table, cols, None)
        lines = f"read_ndjson_objects({_lit(p)}, ignore_errors=true)"
        probe = self.con.execute(f"SELECT json FROM {lines} WHERE json IS NOT NULL LIMIT 1").fetchone()
        first = json.loads(probe[0]) if probe else {}
        wrapped = isinstance(first, dict) and set(first) == {"table", "row"}
        try:  # strict first: a clean file is read once, at full speed
            return self._create(table, cols, self._typed_rows(p, cols, table if wrapped else None), typed=True)
        except duckdb.InvalidInputException:
            pass
        # a corrupt line (a truncated write, a stray byte): load what is valid and count the rest
        n = self._create(table, cols, self._typed_rows(p, cols, table if wrapped else None, lenient=True), typed=True)
        bad = self.con.execute(f"SELECT count(*) FROM {lines} WHERE json IS NULL").fetchone()
        self.skipped_lines[table] = int(bad[0]) if bad else 0
        return n

    def load_view(self, path: str | Path, tables: list[str], flavour: Flavour = "defender",
                  only: Mapping[str, Collection[str]] | None = None) -> dict[str, int]:
        """Load several tables from one Defender-view JSONL file (``only`` keeps a table's named columns)."""
        for t in tables:
            self._columns(t, flavour)  # unknown table names fail before any work
        with self._readable(path) as p:
            return {t: self._load_jsonl(t, p, flavour, (only or {}).get(t)) for t in tables}

    def create_lean(self, table: str, columns: Collection[str], flavour: Flavour) -> None:
        """An empty ``table`` with only ``columns`` of the schema, which queries then see as is."""
        self._create(table, self._subset(self._columns(table, flavour), columns), None)
        self.lean.add(table)

    def _subset(self, cols: list[tuple[str, str]], only: Collection[str] | None) -> list[tuple[str, str]]:
        return cols if only is None else [c for c in cols if c[0] in only]

    def _typed_rows(self, p: str, cols: list[tuple[str, str]], table: str | None, lenient: bool = False) -> str:
        """Rows of ``p`` as a struct ``s`` of ``cols`` (text, or JSON for dynamic), parsed once by
        DuckDB's JSON reader with the schema given up front (read_ndjson_objects, then
        json_transform, parsed every line twice: 1.6 s for 1M rows instead of 1.1 s)."""
        fields = {n: "JSON" if t == "dynamic" else "VARCHAR" for n, t in cols}
        opt = "format='newline_delimited'" + (", ignore_errors=true" if lenient else "")
        if table is None:  # bare rows: the line is the row
            spec = "{" + ", ".join(f"{_lit(n)}: {_lit(t)}" for n, t in fields.items()) + "}"
            row = "{" + ", ".join(f"{_lit(n)}: r.{q(n)}" for n in fields) + "}"
            return f"(SELECT {row} AS s FROM read_json({_lit(p)}, columns={spec}, {opt}) AS r)"
        struct = "STRUCT(" + ", ".join(f"{q(n)} {t}" for n, t in fields.items()) + ")"
        spec = "{'table': 'VARCHAR', 'row': " + _lit(struct) + "}"
        return (f"(SELECT \"row\" AS s FROM read_json({_lit(p)}, columns={spec}, {opt}) "
                f"WHERE \"table\" = {_lit(table)} AND \"row\" IS NOT NULL) AS r")

    def _create(self, table: str, cols: list[tuple[str, str]], rows_sql: str | None, typed: bool = False) -> int:
        """Create ``table`` with the schema's columns from ``rows_sql``: one JSON object ``j`` per
        row, or (``typed``) rows already parsed into a struct ``s`` of the columns."""
        # parse each row once into a struct of the schema's fields (text, or JSON for dynamic)
        structure = json.dumps({n: ("JSON" if t == "dynamic" else "VARCHAR") for n, t in cols})
        sels = []
        for name, typ in cols:
            v = f"s.{q(name)}"
            if typ == "string" and name == "Type" and any(n == "TimeGenerated" for n, _ in cols):
                expr = f"coalesce(nullif({v}, ''), {_lit(table)})"  # Log Analytics: Type is the table name
            elif typ == "string":
                expr = f"coalesce({v}, '')"
            elif typ == "dynamic":
                # a JSON document stored as a string (AdditionalFields in the Defender view) is parsed
                expr = (f"CASE WHEN json_type({v}) = 'VARCHAR' AND json_valid({v} ->> '$') "
                        f"THEN CAST({v} ->> '$' AS JSON) ELSE {v} END")
            elif typ == "datetime" and name == "TimeGenerated":
                # Defender-view rows have no TimeGenerated: Sentinel's copy carries the event's Timestamp
                expr = f"coalesce(kql_todt({v}), kql_todt(s.{q('Timestamp')}))"
            elif typ == "datetime":
                expr = f"kql_todt({v})"
            elif typ == "timespan":
                expr = f"kql_totimespan({v})"
            else:
                expr = f"TRY_CAST({v} AS {SQL_TYPES[typ]})"
            sels.append(f"{expr} AS {q(name)}")
        self.con.execute(f"DROP TABLE IF EXISTS {q(table)}")
        self.lean.discard(table)
        if rows_sql is None:
            defs = ", ".join(f"{q(n)} {SQL_TYPES[t]}" for n, t in cols)
            self.con.execute(f"CREATE TABLE {q(table)} ({defs})")
            n = 0
        else:
            parsed = rows_sql if typed else f"(SELECT json_transform(j, {_lit(structure)}) AS s FROM {rows_sql})"
            self.con.execute(f"CREATE TABLE {q(table)} AS SELECT {', '.join(sels)} FROM {parsed}")
            row = self.con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()
            n = int(row[0]) if row else 0
        self.tables[table] = cols
        self.load_stats[table] = n
        return n

    def load_parquet(self, table: str, path: str | Path, flavour: Flavour = "defender") -> int:
        """Load ``table`` from a Parquet file whose columns carry the schema's names."""
        with self._readable(path) as p:
            return self._load_parquet(table, p, flavour)

    def _load_parquet(self, table: str, path: str, flavour: Flavour) -> int:
        cols = self._columns(table, flavour)
        if Path(path).stat().st_size == 0:
            return self._create(table, cols, None)
        have = {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM read_parquet({_lit(str(path))})").fetchall()}
        sels = [
            (f"CAST({q(n)} AS {SQL_TYPES[t]})" if n in have else f"CAST(NULL AS {SQL_TYPES[t]})")
            + f" AS {q(n)}" for n, t in cols
        ]
        sels = [x if t != "string" else f"coalesce({x.rsplit(' AS ', 1)[0]}, '') AS {q(n)}"
                for x, (n, t) in zip(sels, cols, strict=True)]
        self.con.execute(f"DROP TABLE IF EXISTS {q(table)}")
        self.lean.discard(table)
        self.con.execute(f"CREATE TABLE {q(table)} AS SELECT {', '.join(sels)} FROM read_parquet({_lit(str(path))})")
        row = self.con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()
        self.tables[table] = cols
        self.load_stats[table] = int(row[0]) if row else 0
        return self.load_stats[table]

    def load_rows(self, table: str, rows: list[dict[str, Any]], flavour: Flavour = "defender") -> int:
        """Load ``table`` from Python dicts (tests, small inputs)."""
        cols = self._columns(table, flavour)
        if not rows:
            return self._create(table, cols, None)
        self.con.execute("DROP TABLE IF EXISTS __kql_rows")
        self.con.execute("CREATE TEMP TABLE __kql_rows (j JSON)")
        self.con.executemany("INSERT INTO __kql_rows VALUES (?)", [[json.dumps(r)] for r in rows])
        n = self._create(table, cols, "(SELECT CAST(j AS JSON) AS j FROM __kql_rows) AS r")
        self.con.execute("DROP TABLE __kql_rows")
        return n

    # running
    def compile(self, query: str, path: str = "<query>",
                now: datetime | None = None) -> tuple[str, list[tuple[str, str]]]:
        """Parse, check and translate ``query`` (once per text and table shapes; ``now`` is the
        session variable ``kql_now``, set here); returns the SQL and output columns."""
        flavour = self._flavour_for(query)
        ref = now or datetime.now(UTC)
        if ref.tzinfo is not None:
            ref = ref.astimezone(UTC).replace(tzinfo=None)
        self.con.execute(f"SET VARIABLE kql_now = {ts_sql(ref)}")
        # loaded tables keep the columns of the flavour they were loaded with; others come from the schema
        known = {n: c for n, c in self.tables.items()
                 if n in self.lean or table_columns(n, flavour) is None or c == table_columns(n, flavour)}
        key = (query, path, flavour, tuple(sorted((n, tuple(c)) for n, c in known.items()
                                                  if n in self.lean or table_columns(n, flavour) is None)))
        tr = self._translations.get(key)
        if tr is None:
            tr = self._translate(query, path, ref, flavour, known)
            if tr.reusable:
                self._translations[key] = tr
        self._ensure(tr.used, flavour)
        for name, node in tr.external:
            self._load_external(name, node, path)
        return tr.sql, list(tr.cols)

    def _ensure(self, used: Iterable[str], flavour: Flavour) -> None:
        """Create the tables a query reads that are not loaded (empty, with the schema's columns)."""
        for t in used:
            if t in self.lean:
                continue  # loaded with the columns the query names, on purpose
            want = table_columns(t, flavour)
            if want is not None and self.tables.get(t) != want:
                if t in self.tables:
                    self._reshape(t, want)
                else:
                    self._create(t, want, None)

    def _translate(self, query: str, path: str, now: datetime, flavour: Flavour,
                   known: dict[str, list[tuple[str, str]]]) -> Translation:
        probed = False

        def probe(sql: str, used: set[str]) -> list[tuple[Any, ...]]:
            nonlocal probed
            probed = True  # the SQL now depends on these rows: not reused for another run's
            self._ensure(used, flavour)
            return self.con.execute(sql).fetchall()

        t = translate(_parse(query, path), path, now, flavour, known, probe)
        return replace(t, reusable=t.reusable and not probed)

    def _load_external(self, name: str, node: syntax.ExternalData, path: str) -> None:
        """Fill an externaldata table from the local copy of one of its URLs.

        The engine never fetches: a URL with no local copy (``external_data``) is an
        UnsupportedError at the externaldata's line:column, counted like any other.
        """
        local = next((p for p in (self.external_data(u) for u in node.urls) if p is not None), None)
        if local is None:
            raise UnsupportedError(
                f"externaldata needs network access to {node.urls[0] if node.urls else 'its URL'}; "
                "give the engine a local copy (external_data)", SourceLocation(path, node.line, node.col))
        fmt = node.props.get("format", "csv").lower()
        skip = node.props.get("ignorefirstrecord", "false").lower() == "true"
        text = Path(local).read_text(encoding="utf-8", errors="replace")
        ncol = len(node.columns)
        rows: list[list[str | None]]
        if fmt in ("txt", "raw"):
            rows = [[line] for line in text.splitlines()]
        elif fmt in ("json", "multijson"):
            rows = []
            for line in text.splitlines():
                if line.strip():
                    obj = json.loads(line)
                    rows.append([None if obj.get(c) is None else (v if isinstance(v := obj.get(c), str)
                                                                  else json.dumps(v)) for c, _ in node.columns])
        else:
            delim = "\t" if fmt in ("tsv", "tsve", "tab") else ("|" if fmt == "psv" else ",")
            rows = [list[str | None](r) for r in csv.reader(io.StringIO(text), delimiter=delim) if r]
        if skip:
            rows = rows[1:]
        rows = [(r + [None] * ncol)[:ncol] for r in rows]
        self.con.execute(f"DROP TABLE IF EXISTS {q(name)}")
        raw = ", ".join(f"c{i} VARCHAR" for i in range(ncol))
        self.con.execute(f"CREATE TEMP TABLE {q(name + '_raw')} ({raw})")
        if rows:
            self.con.executemany(f"INSERT INTO {q(name + '_raw')} VALUES ({', '.join('?' * ncol)})", rows)
        sels = []
        for i, (cname, typ) in enumerate(node.columns):
            v = f"c{i}"
            expr = {"string": f"coalesce({v}, '')", "dynamic": f"kql_parse_json({v})", "datetime": f"kql_todt({v})",
                    "timespan": f"kql_totimespan({v})"}.get(typ, f"TRY_CAST(trim({v}) AS {SQL_TYPES[typ]})")
            sels.append(f"{expr} AS {q(cname)}")
        self.con.execute(f"CREATE TEMP TABLE {q(name)} AS SELECT {', '.join(sels)} FROM {q(name + '_raw')}")
        self.con.execute(f"DROP TABLE {q(name + '_raw')}")

    def _reshape(self, table: str, want: list[tuple[str, str]]) -> None:
        """Give a loaded table the other flavour's columns (added columns are null)."""
        have = dict(self.tables[table])
        sels = []
        for n, t in want:
            if n in have and have[n] == t:
                sels.append(q(n))
            elif n in have and t == "dynamic":
                sels.append(f"kql_parse_json({q(n)}) AS {q(n)}")
            elif n in have and t == "string":
                sels.append(f"coalesce(CAST({q(n)} AS VARCHAR), '') AS {q(n)}")
            elif n == "TimeGenerated" and have.get("Timestamp") == "datetime":
                sels.append(f"{q('Timestamp')} AS {q(n)}")
            elif n == "Type":
                sels.append(f"{_lit(table)} AS {q(n)}")
            else:
                sels.append(("''" if t == "string" else f"CAST(NULL AS {SQL_TYPES[t]})") + f" AS {q(n)}")
        tmp = f"__reshape_{table}"
        self.con.execute(f"CREATE OR REPLACE TABLE {q(tmp)} AS SELECT {', '.join(sels)} FROM {q(table)}")
        self.con.execute(f"DROP TABLE {q(table)}")
        self.con.execute(f"ALTER TABLE {q(tmp)} RENAME TO {q(table)}")
        self.tables[table] = want

    def run(self, query: str, path: str = "<query>", now: datetime | None = None) -> KqlResult:
        """Run ``query``; ``now`` pins now()/ago() (default: the current time)."""
        sql, cols = self.compile(query, path, now)
        try:
            rows = self.con.execute(sql).fetchall()
        except duckdb.Error as exc:
            msg = str(exc).splitlines()[0]
            if "Not implemented" in msg:
                raise UnsupportedError(f"the engine cannot evaluate this query: {msg}",
                                       SourceLocation(path, 1, 1)) from exc
            raise RuleError(f"query failed while running: {msg}", SourceLocation(path, 1, 1)) from exc
        return KqlResult(tuple(cols), tuple(tuple(r) for r in rows))


@functools.lru_cache(maxsize=256)
def _parse(query: str, path: str) -> syntax.Script:
    """Parse once per text: the AST is immutable, and detections run the same text per detonation."""
    return syntax.parse(query, path)


def _lit(v: str) -> str:
    return "'" + v.replace("'", "''") + "'"

"""Streaming parser for raw auditd logs (``audit.log``, ``ausearch --raw``).

Lines look like ``[node=N ]type=T msg=audit(EPOCH.mmm:SERIAL): k=v k=v ...`` with, in the
``ENRICHED`` log format, a ``\\x1d`` separator followed by interpreted fields
(``SYSCALL=connect UID="root" ...``). All records of one event share the serial; events of
different CPUs interleave. Records are grouped into one :class:`Record` per event with a
bounded buffer of open events: an event is emitted when its ``EOE`` arrives (in input
order) or when more than ``window`` newer events have been opened since. Memory is bounded
by ``window`` x :data:`MAX_RECORDS_PER_EVENT` whatever the input size.

Each event's ``fields`` are ``{"serial", "node", "records": [{"type": ..., key: value}]}``:
values are unquoted; hex-encoded strings (EXECVE arguments, ``comm``, ``exe``, ``name``,
``cwd``, ``proctitle``...) are decoded; split EXECVE arguments (``aN_len``/``aN[i]``, also
across several EXECVE records) are joined; SOCKADDR ``saddr`` is decoded into
``saddr_fam``, ``laddr``, ``lport``, ``path`` (unix), ``nlnk-fam``/``nlnk-pid`` (netlink)
like ``ausearch -i``; PROCTITLE is decoded with NULs turned into spaces. Enriched fields
keep their upper-case names. When the log is not enriched, ``SYSCALL`` (the name) is added
from the x86_64 table for the syscalls the harness cares about.

Speed: the optional C extension ``_auditd_fast`` (built by setup.py when gcc and the Python
headers are there; a failed build leaves it out) tokenizes kernel records and runs the
grouping loop; anything unusual (split EXECVE arguments, single quotes, cut-off values,
non-ASCII text...) is handed back to the Python tokenizer line by line. The pure-Python path is the reference:
``parse(..., accelerated=False)`` forces it, and tests/telemetry/parsers/test_auditd_fast.py
checks that both give identical events, statistics and Sigma view. :data:`ACCELERATED` says
whether the extension is loaded.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from harness.collection import Source
from harness.telemetry.inputs import open_binary
from harness.telemetry.parsers import base
from harness.telemetry.parsers.base import ParseStats, Record

_CParseLine = Callable[[str], "tuple[str | None, str, str, dict[str, Any]] | None"]
_c_parse_line: _CParseLine | None
_CGrouper: type[_auditd_fast.Grouper] | None
try:  # optional C tokenizer and grouping loop (setup.py builds them when a compiler is there)
    from harness.telemetry.parsers import _auditd_fast
    from harness.telemetry.parsers._auditd_fast import parse_line as _c_parse_line

    _CGrouper = _auditd_fast.Grouper
except ImportError:  # pragma: no cover - depends on the build
    _c_parse_line = None
    _CGrouper = None

#: True when the C tokenizer is loaded (``parse`` uses it unless ``accelerated=False``).
ACCELERATED = _c_parse_line is not None

SOURCE = Source.AUDITD.value
#: Open events kept while waiting for more of their records (interleaving depth).
DEFAULT_WINDOW = 64
#: An event with more records than this is cut (the rest counted as unparseable).
MAX_RECORDS_PER_EVENT = 4096

# Fields whose unquoted value is hex-encoded text (auditd's "untrusted string" encoding).
_HEX_TEXT_KEYS = frozenset(
    {"comm", "exe", "name", "cwd", "path", "ocomm", "key", "cmd", "acct", "proctitle", "data", "grp"}
)
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
# x86_64 syscall numbers -> names, used when the log is not ENRICHED (SigmaHQ rules match SYSCALL).
X86_64_SYSCALLS: dict[str, str] = {
    "0": "read",
    "1": "write",
    "2": "open",
    "3": "close",
    "41": "socket",
    "42": "connect",
    "43": "accept",
    "44": "sendto",
    "45": "recvfrom",
    "46": "sendmsg",
    "47": "recvmsg",
    "49": "bind",
    "50": "listen",
    "56": "clone",
    "57": "fork",
    "58": "vfork",
    "59": "execve",
    "62": "kill",
    "76": "truncate",
    "77": "ftruncate",
    "82": "rename",
    "83": "mkdir",
    "84": "rmdir",
    "85": "creat",
    "86": "link",
    "87": "unlink",
    "88": "symlink",
    "90": "chmod",
    "92": "chown",
    "133": "mknod",
    "257": "openat",
    "263": "unlinkat",
    "264": "renameat",
    "288": "accept4",
    "316": "renameat2",
    "319": "memfd_create",
    "322": "execveat",
    "435": "clone3",
    "437": "openat2",
}
_SLOW_FIELD = re.compile(r"([^\s=]+)=('[^']*'|\"[^\"]*\"|\{[^}]*\}|\S*)")


class _BadLine(Exception):
    pass


_HEX_CACHE: dict[str, str] = {}
_SOCK_CACHE: dict[str, dict[str, Any]] = {}
_CACHE_MAX = 8192  # the same proctitles, paths and peers recur: decode each once (bounded)


def _maybe_hex(value: str) -> str:
    """Decode an unquoted auditd string field if it is hex (``(null)`` and others stay)."""
    cached = _HEX_CACHE.get(value)
    if cached is not None:
        return cached
    out = value
    if value and len(value) % 2 == 0 and value[0] in _HEXDIGITS:
        try:
            out = bytes.fromhex(value).decode("utf-8", "backslashreplace")
        except ValueError:
            out = value
    if len(_HEX_CACHE) >= _CACHE_MAX:
        _HEX_CACHE.clear()
    _HEX_CACHE[value] = out
    return out


def decode_sockaddr(hexstr: str) -> dict[str, Any]:
    """Decode a SOCKADDR ``saddr`` hex blob (family in host order, x86 little-endian).

    The returned dict is shared between calls with the same blob: do not mutate it.
    """
    cached = _SOCK_CACHE.get(hexstr)
    if cached is None:
        if len(_SOCK_CACHE) >= _CACHE_MAX:
            _SOCK_CACHE.clear()
        cached = _SOCK_CACHE[hexstr] = _decode_sockaddr(hexstr)
    return cached


def _decode_sockaddr(hexstr: str) -> dict[str, Any]:
    try:
        raw = bytes.fromhex(hexstr)
    except ValueError:
        return {"saddr_fam": "unparseable"}
    if len(raw) < 2:
        return {"saddr_fam": "unparseable"}
    fam = raw[0] | (raw[1] << 8)
    if fam == 2 and len(raw) >= 8:
        return {
            "saddr_fam": "inet",
            "laddr": socket.inet_ntop(socket.AF_INET, raw[4:8]),
            "lport": (raw[2] << 8) | raw[3],
        }
    if fam == 10 and len(raw) >= 24:
        out: dict[str, Any] = {
            "saddr_fam": "inet6",
            "laddr": socket.inet_ntop(socket.AF_INET6, raw[8:24]),
            "lport": (raw[2] << 8) | raw[3],
        }
        if len(raw) >= 28:
            out["scope"] = int.from_bytes(raw[24:28], "little")
        return out
    if fam == 1:
        path = raw[2:]
        if path[:1] == b"\0":  # abstract namespace
            name = "@" + path[1:].split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
        else:
            name = path.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
        return {"saddr_fam": "local", "path": name}
    if fam == 16 and len(raw) >= 12:
        return {
            "saddr_fam": "netlink",
            "nlnk-fam": int.from_bytes(raw[2:4], "little"),  # nl_pad, kept for completeness
            "nlnk-pid": int.from_bytes(raw[4:8], "little"),
        }
    return {"saddr_fam": str(fam)}


def _slow_fields(body: str, fields: dict[str, Any]) -> None:
    """Tokenise a body with quoted values containing spaces (user-space ``msg='...'`` records)."""
    for key, value in _SLOW_FIELD.findall(body):
        if value[:1] == "'" and value[-1:] == "'":
            inner = value[1:-1]
            if "=" in inner:
                _slow_fields(inner, fields)
                continue
            value = inner
        elif value[:1] == '"' and value[-1:] == '"':
            value = value[1:-1]
        elif key in _HEX_TEXT_KEYS:
            value = _maybe_hex(value)
        fields[key] = value


def parse_line(line: str) -> tuple[str | None, str, str, dict[str, Any]]:
    """Parse one audit line into ``(node, stamp, type, fields)``; raises ``_BadLine``.

    ``stamp`` is the ``EPOCH.mmm:SERIAL`` text. ``fields`` starts with ``type``.
    """
    node = None
    if line.startswith("node="):
        node, _, line = line.partition(" ")
        node = node[5:]
    if not line.startswith("type="):
        raise _BadLine("not an audit record (no type=)")
    sp = line.find(" ", 5)
    if sp < 0 or not line.startswith("msg=audit(", sp + 1):
        raise _BadLine("no msg=audit( header")
    close = line.find(")", sp + 11)
    if close < 0:
        raise _BadLine("truncated msg=audit( header")
    stamp = line[sp + 11 : close]
    if ":" not in stamp:
        raise _BadLine("bad audit stamp")
    rtype = line[5:sp]
    body = line[close + 2 :].lstrip(" ")  # skip "): "
    fields: dict[str, Any] = {"type": rtype}
    enriched = None
    if "\x1d" in body:
        body, _, enriched = body.partition("\x1d")
        if enriched.count('"') % 2:
            enriched = enriched[: enriched.rfind(" ")] if " " in enriched else ""
            fields["\x00truncated"] = True
    elif body.count('"') % 2 and "'" not in body:
        # Cut mid-value (a truncated write): drop the partial last field, keep the rest.
        body = body[: body.rfind(" ")] if " " in body else ""
        fields["\x00truncated"] = True
    if rtype == "EXECVE":
        _execve_fields(body, fields)
    elif "'" in body:
        _slow_fields(body, fields)
    else:
        # Fast path (kernel records): quoted values never hold spaces or quotes (auditd
        # hex-encodes those), so strip every quote and split in C; then decode the few
        # hex-capable keys whose value was not quoted. Plain enriched fields (upper-case
        # names) go through the same split.
        both = body
        if enriched and "{" not in enriched:
            both = body + " " + enriched
            enriched = None
        plain = both.replace('"', "")
        if plain.count("=") == plain.count(" ") + 1 and "  " not in plain:
            # Every token is exactly key=value: pair keys and values in C.
            it = iter(plain.replace(" ", "=").split("="))
            fields.update(zip(it, it, strict=False))
        else:
            for tok in plain.split():
                key, eq, value = tok.partition("=")
                if eq:
                    fields[key] = value
        for key in _HEX_TEXT_KEYS.intersection(fields):
            if key + '="' not in body:
                fields[key] = _maybe_hex(fields[key])
    if enriched:
        if "{" in enriched:
            for key, value in _SLOW_FIELD.findall(enriched):
                fields[key] = value[1:-1] if value[:1] in '"{' and len(value) > 1 else value
        else:
            plain = enriched.replace('"', "")
            if plain.count("=") == plain.count(" ") + 1 and "  " not in plain:
                it = iter(plain.replace(" ", "=").split("="))
                fields.update(zip(it, it, strict=False))
            else:
                for tok in plain.split():
                    key, eq, value = tok.partition("=")
                    if eq:
                        fields[key] = value
    if fields["type"] != rtype:
        fields["type"] = rtype  # a body token named "type" never overrides the record type
    return node, stamp, rtype, fields


def _execve_fields(body: str, fields: dict[str, Any]) -> None:
    """EXECVE: quoted arguments are literal, unquoted ones hex. Split pieces (``aN[i]``) are
    kept as bytes under ``("piece", N, i)`` keys until the event is finished."""
    for tok in body.split():
        key, eq, value = tok.partition("=")
        if not eq:
            continue
        if value[:1] == '"':
            text = value[1:-1] if value[-1:] == '"' and len(value) > 1 else value[1:]
            literal = True
        else:
            text = value
            literal = False
        if key[:1] == "a" and key[1:2].isdigit():
            lb = key.find("[")
            if lb > 0:
                try:
                    idx, part = int(key[1:lb]), int(key[lb + 1 : key.find("]", lb)])
                except ValueError:
                    fields[key] = text
                    continue
                try:
                    data = text.encode() if literal else bytes.fromhex(text)
                except ValueError:
                    data = text.encode()
                fields[("piece", idx, part)] = data  # type: ignore[index]
                continue
            if key.endswith("_len"):
                continue
            fields[key] = text if literal else _maybe_hex(text)
        else:
            fields[key] = text


def _finish_execve(execs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge an event's EXECVE records (long argument lists span several) and join split
    arguments."""
    out: dict[str, Any] = {"type": "EXECVE"}
    pieces: dict[int, dict[int, bytes]] = {}
    for rec in execs:
        for key, value in rec.items():
            if isinstance(key, tuple):
                pieces.setdefault(key[1], {})[key[2]] = value
            elif key != "type":
                out[key] = value
    for idx, parts in pieces.items():
        joined = b"".join(parts[i] for i in sorted(parts))
        out[f"a{idx}"] = joined.decode("utf-8", "backslashreplace")
    if pieces:
        # Keep a0..aN in argument order after late-joined pieces.
        args = {k: out.pop(k) for k in [k for k in out if k[:1] == "a" and k[1:].isdigit()]}
        for k in sorted(args, key=lambda k: int(k[1:])):
            out[k] = args[k]
    return out


def _argv(execve: dict[str, Any]) -> list[str]:
    args: list[str] = []
    i = 0
    while True:
        value = execve.get(f"a{i}")
        if value is None:
            return args
        args.append(str(value))
        i += 1


def execve_argv(record: dict[str, Any]) -> list[str]:
    """The argument vector of a finished EXECVE record (``a0``, ``a1``, ... in order)."""
    return _argv(record)


def _decode_record_lazy(fields: dict[str, Any]) -> None:
    """Per-type decoding done once per record when an event is finished."""
    rtype = fields["type"]
    if rtype == "SOCKADDR":
        saddr = fields.get("saddr")
        if isinstance(saddr, str):
            decoded = decode_sockaddr(saddr)
            for key, value in decoded.items():
                fields.setdefault(key, value)
            # Enriched SADDR={ ... } text is redundant once decoded.
            fields.pop("SADDR", None)
    elif rtype == "SYSCALL":
        if "SYSCALL" not in fields:
            name = X86_64_SYSCALLS.get(fields.get("syscall", ""))
            if name is not None and fields.get("arch", "c000003e") == "c000003e":
                fields["SYSCALL"] = name
    elif rtype == "PROCTITLE":
        title = fields.get("proctitle")
        if isinstance(title, str):
            fields["proctitle"] = title.replace("\x00", " ").rstrip(" ")


class _Event:
    __slots__ = ("complete", "execve_parts", "line", "node", "records", "split_args", "stamp")

    def __init__(self, node: str | None, stamp: str, line: int) -> None:
        self.node = node
        self.stamp = stamp
        self.line = line
        self.records: list[dict[str, Any]] = []
        self.complete = False
        self.execve_parts = 0
        self.split_args = False


def _build(ev: _Event, file: str) -> Record:
    return _build_event(ev.node, ev.stamp, ev.line, ev.records, ev.execve_parts, ev.split_args, file)


def _build_event(
    node: str | None,
    stamp: str,
    line: int,
    records: list[dict[str, Any]],
    execve_parts: int,
    split_args: bool,
    file: str,
) -> Record:
    ts, _, serial = stamp.partition(":")
    if execve_parts > 1 or split_args:
        execs = [r for r in records if r["type"] == "EXECVE"]
        merged = _finish_execve(execs)
        first = records.index(execs[0])
        records = [r for r in records if r["type"] != "EXECVE"]
        records.insert(first, merged)
    try:
        time: float | None = float(ts)
    except ValueError:
        time = None
    if time is not None and not (0.0 <= time < 253402300800.0):  # garbage stamp (also NaN)
        time = None
    try:
        serial_v: int | str = int(serial)
    except ValueError:
        serial_v = serial
    return Record(SOURCE, {"serial": serial_v, "node": node, "records": records}, file, line, time)


# Per-type decoding of finished records (SOCKADDR, SYSCALL name, PROCTITLE): done in the
# parse loop for Python-tokenised records, inside the C tokenizer for the others.
_LAZY_TYPES = frozenset({"SOCKADDR", "SYSCALL", "PROCTITLE"})
if _c_parse_line is not None:
    from harness.telemetry.parsers._auditd_fast import configure as _c_configure

    _c_configure(X86_64_SYSCALLS, decode_sockaddr, _SOCK_CACHE)


def parse(
    lines: Iterable[str],
    *,
    file: str = "-",
    stats: ParseStats | None = None,
    window: int = DEFAULT_WINDOW,
    accelerated: bool = True,
) -> Iterator[Record]:
    """Stream auditd events (one :class:`Record` per serial) from lines of a raw audit log.

    ``accelerated=False`` forces the pure-Python tokenizer (the reference the C one is tested
    against); the output is the same either way.
    """
    st = stats if stats is not None else ParseStats(SOURCE)
    if accelerated and _CGrouper is not None:
        return _parse_accelerated(lines, file, st, window)
    return _parse_python(lines, file, st, window, accelerated)


def make_grouper(
    lines: Iterable[str] = (),
    *,
    raw: BinaryIO | None = None,
    file: str = "-",
    stats: ParseStats,
    window: int = DEFAULT_WINDOW,
) -> Any:
    """The C grouping loop (an iterator of ``(node, stamp, line, records, execve_parts,
    split_args)`` per event, see :func:`_build_event`) over ``lines``, or over the binary file
    ``raw`` read as :func:`~harness.telemetry.parsers.base.open_lines` reads it; ``None`` when
    the accelerator is not built. Unparseable lines are counted in ``stats`` as they come;
    the grouper's ``read`` and ``truncated`` counters are the caller's to add."""
    if _CGrouper is None:
        return None

    def slow(line: str, n: int) -> tuple[str | None, str, str, dict[str, Any]] | None:
        try:
            return parse_line(line)
        except _BadLine as exc:
            stats.bad(file, n, str(exc))
            return None

    def bad(n: int, reason: str) -> None:
        stats.bad(file, n, reason)

    if raw is not None:
        return _CGrouper(
            (), slow, bad, _decode_record_lazy, window, MAX_RECORDS_PER_EVENT, raw=raw, max_chars=base.MAX_LINE_CHARS
        )
    return _CGrouper(lines, slow, bad, _decode_record_lazy, window, MAX_RECORDS_PER_EVENT)


def parse_path(
    path: str | Path, *, file: str | None = None, stats: ParseStats | None = None, window: int = DEFAULT_WINDOW
) -> Iterator[Record]:
    """:func:`parse` of a file's lines; with the accelerator, the C loop reads the file itself
    (the same lines :func:`~harness.telemetry.parsers.base.open_lines` gives)."""
    st = stats if stats is not None else ParseStats(SOURCE)
    name = str(path) if file is None else file
    if _CGrouper is None:
        yield from parse(base.open_lines(path), file=name, stats=st, window=window)
        return
    with open_binary(path) as raw:  # gzip or plain, a file or "-" (stdin)
        yield from _iterate(make_grouper(raw=raw, file=name, stats=st, window=window), name, st)


def _parse_accelerated(lines: Iterable[str], file: str, st: ParseStats, window: int) -> Iterator[Record]:
    """``_parse_python`` with its loop in C (``_auditd_fast.Grouper``): same events, same
    counts. The C side counts read and truncated lines; they are added to ``st`` before every
    event is handed out (the only points where a consumer can look) and at the end."""
    return _iterate(make_grouper(lines, file=file, stats=st, window=window), file, st)


def _iterate(grouper: Any, file: str, st: ParseStats) -> Iterator[Record]:
    read = truncated = 0
    try:
        for node, stamp, line, records, execve_parts, split_args in grouper:
            st.read += grouper.read - read
            st.truncated += grouper.truncated - truncated
            read, truncated = grouper.read, grouper.truncated
            st.parsed += 1
            yield _build_event(node, stamp, line, records, execve_parts, split_args, file)
    finally:
        st.read += grouper.read - read
        st.truncated += grouper.truncated - truncated


def _parse_python(lines: Iterable[str], file: str, st: ParseStats, window: int, accelerated: bool) -> Iterator[Record]:
    """The reference grouping loop (tokenizing in C when ``accelerated`` and built)."""
    open_events: dict[str, _Event] = {}
    get_open = open_events.get
    parse_one = parse_line
    fast = _c_parse_line if accelerated else None
    n = 0
    for line in lines:
        n += 1
        if line[-1:] in ("\n", "\r"):
            line = line.rstrip("\r\n")
        if not line:
            continue  # blank lines are not records
        st.read += 1
        parsed = fast(line) if fast is not None else None
        slow = parsed is None
        if slow:  # no C tokenizer, or a line only the Python path handles
            try:
                parsed = parse_one(line)
            except _BadLine as exc:
                st.bad(file, n, str(exc))
                continue
        node, stamp, rtype, fields = parsed  # type: ignore[misc]
        key = stamp if node is None else f"{node}/{stamp}"
        ev = get_open(key)
        if ev is None:
            ev = _Event(node, stamp, n)
            open_events[key] = ev
            if len(open_events) > window:
                # Too many open events: the oldest is as complete as it will get.
                old = open_events.pop(next(iter(open_events)))
                st.parsed += 1
                yield _build(old, file)
                while open_events:
                    head = open_events[next(iter(open_events))]
                    if not head.complete:
                        break
                    del open_events[next(iter(open_events))]
                    st.parsed += 1
                    yield _build(head, file)
        if rtype == "EOE":
            ev.complete = True
            # Emit from the head while complete (keeps input order).
            while open_events:
                head_key = next(iter(open_events))
                head = open_events[head_key]
                if not head.complete:
                    break
                del open_events[head_key]
                st.parsed += 1
                yield _build(head, file)
            continue
        records = ev.records
        if len(records) >= MAX_RECORDS_PER_EVENT:
            st.bad(file, n, f"event {stamp} has more than {MAX_RECORDS_PER_EVENT} records")
            continue
        if slow:
            # The C tokenizer returns finished records, never split EXECVE pieces or cut-off ones.
            if rtype == "EXECVE":
                ev.execve_parts += 1
                if any(isinstance(k, tuple) for k in fields):
                    ev.split_args = True
            elif "\x00truncated" in fields:
                del fields["\x00truncated"]
                st.truncated += 1
            if rtype in _LAZY_TYPES:
                _decode_record_lazy(fields)
        elif rtype == "EXECVE":
            ev.execve_parts += 1  # from the C tokenizer: never split pieces
        records.append(fields)
    for ev in open_events.values():
        st.parsed += 1
        yield _build(ev, file)


def read_file(path: Path, *, file: str, stats: ParseStats, year: int | None = None) -> Iterator[Record]:
    """The parser registry's entry point: :func:`parse_path` (the C loop reads the file itself when built)."""
    return parse_path(path, file=file, stats=stats)

"""The Sigma taxonomy view: ``{"logsource": {...}, "event": {...}, "meta": {...}}`` per event.

This module (with :mod:`harness.views.activity`) is the one place that maps source fields
to Sigma taxonomy fields; the Sigma engine only routes log sources and aliases rule-side
names. What each source becomes (details in docs/ARCHITECTURE.md, "Sigma view"):

* auditd: every record as ``{product: linux, service: auditd}`` with its own keys (``type``,
  decoded ``a0``..``aN``, ``exe``, ``comm``, ``key``, ``SYSCALL``...), plus the semantic
  events ``process_creation`` (execve), ``network_connection`` (connect/sendto to an inet
  or inet6 address), ``file_event``/``file_delete`` (PATH ``nametype=CREATE``/``DELETE``)
  under ``{product: linux}``;
* Sysmon (Linux and Windows, EVTX): Sysmon's own field names (``EventID`` and every Data
  field, plus ``Computer``/``Channel``/``Provider_Name``), category by event ID;
  ``DestinationHostname`` of event 3 is filled from the resolver's answer when Sysmon wrote
  ``-``;
* dnsmasq: ``category: dns`` (query, answer, record_type, src_ip, src_port);
* Squid and the simulated internet: ``category: proxy`` (c-uri, cs-host, ...);
* NFLOG: ``category: firewall``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import NotImplementedType
from typing import TYPE_CHECKING, Any, BinaryIO

from harness.telemetry.inputs import open_binary
from harness.telemetry.parsers import auditd as _auditd
from harness.telemetry.parsers.base import ParseStats, Record, iso_utc
from harness.views.activity import Activity, ActivityExtractor, _int
from harness.views.context import DnsIndex, ProcessInfo, ViewContext
from harness.views.events import EventMeta, Fields, LogSource, SigmaEvent

if TYPE_CHECKING:
    from harness.telemetry.parsers._auditd_fast import Grouper

try:  # optional C accelerator of the auditd part (setup.py builds it when a compiler is there)
    from harness.views import _sigma_fast
except ImportError:  # pragma: no cover - depends on the build
    _sigma_fast = None  # type: ignore[assignment,unused-ignore]

#: True when the C accelerator of the auditd Sigma view is loaded.
ACCELERATED = _sigma_fast is not None


#: Sysmon event ID -> Sigma category (Windows and Linux share the numbering).
SYSMON_CATEGORIES: dict[int, str | None] = {
    1: "process_creation",
    2: "file_change",
    3: "network_connection",
    4: None,
    5: "process_termination",
    6: "driver_load",
    7: "image_load",
    8: "create_remote_thread",
    9: "raw_access_thread",
    10: "process_access",
    11: "file_event",
    12: "registry_add",
    13: "registry_set",
    14: "registry_rename",
    15: "create_stream_hash",
    16: None,
    17: "pipe_created",
    18: "pipe_created",
    19: "wmi_event",
    20: "wmi_event",
    21: "wmi_event",
    22: "dns_query",
    23: "file_delete",
    24: "clipboard_capture",
    25: "process_tampering",
    26: "file_delete_detected",
    27: "file_block_executable",
    28: "file_block_shredding",
    29: "file_executable_detected",
    255: None,
}
_REGISTRY_EVENT_TYPES = {
    "CreateKey": "registry_add",
    "DeleteKey": "registry_delete",
    "DeleteValue": "registry_delete",
    "SetValue": "registry_set",
    "RenameKey": "registry_rename",
}
_AUDITD_LS: LogSource = {"product": "linux", "service": "auditd", "category": None}
_SOURCE_LS: dict[str, dict[str, str | None]] = {
    "dnsmasq": {"product": None, "service": "dnsmasq"},
    "squid": {"product": None, "service": "squid"},
    "inet": {"product": None, "service": "inet"},
    "nflog": {"product": "linux", "service": "nflog"},
}


_NO_TIME = object()


def _ls(product: str | None, service: str | None, category: str | None) -> LogSource:
    return {"product": product, "service": service, "category": category}


def _clean(event: Fields) -> Fields:
    return {k: v for k, v in event.items() if v is not None}


def _sysmon_event(rec: Record, dns: DnsIndex, ctx: ViewContext) -> SigmaEvent:
    f = rec.fields
    system = f.get("System") or {}
    event: Fields = {k: v for k, v in f.items() if k != "System"}
    for key in ("Provider_Name", "Channel", "Computer"):
        if key in system and key not in event:
            event[key] = system[key]
    eid_raw = f.get("EventID")
    try:
        eid = int(eid_raw) if eid_raw is not None else -1
    except (TypeError, ValueError):
        eid = -1
    category = SYSMON_CATEGORIES.get(eid)
    if eid in (12, 13, 14):
        category = _REGISTRY_EVENT_TYPES.get(str(f.get("EventType")), category)
    if eid == 3 and event.get("DestinationHostname") in ("-", None, ""):
        name = dns.name_for(_str(event.get("DestinationIp")), rec.time, ctx.dns_max_age_s)
        if name:
            event["DestinationHostname"] = name
    provider = str(system.get("Provider_Name") or "")
    product = "linux" if provider == "Linux-Sysmon" or "Linux" in str(system.get("Channel", "")) else "windows"
    return {"logsource": _ls(product, "sysmon", category), "event": event}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def activity_event(act: Activity) -> SigmaEvent | None:
    """Sigma event of a normalised activity from a non-Sysmon source."""
    d = act.data
    p, parent = act.process, act.parent
    kind = act.kind
    # Key order is the documented one; None values are left out. (The auditd kinds are also built
    # by the C accelerator, harness/views/_sigma_event.c, which must stay equal to this.)
    if kind == "process_creation" and p is not None:
        event = _clean(
            {
                "Image": p.image,
                "CommandLine": p.command_line,
                "CurrentDirectory": p.cwd,
                "User": p.user,
                "LogonId": p.logon_id,
                "TerminalSessionId": p.session,
                "ProcessId": p.pid,
                "ParentProcessId": p.ppid,
                "ParentImage": parent.image if parent is not None else None,
                "ParentCommandLine": parent.command_line if parent is not None else None,
                "ParentUser": parent.user if parent is not None else None,
                "OriginalFileName": posixpath.basename(p.image) if p.image else None,
            }
        )
        return {"logsource": _ls("linux", None, "process_creation"), "event": event}
    if kind == "network_connection":
        ipv6 = "true" if d.get("ipv6") else "false"
        event = _clean(
            {
                "Image": p.image if p is not None else None,
                "ProcessId": p.pid if p is not None else None,
                "User": p.user if p is not None else None,
                "CommandLine": p.command_line if p is not None else None,
                "ParentImage": parent.image if parent is not None else None,
                "Protocol": d.get("protocol"),
                "Initiated": "true" if d.get("initiated") else "false",
                "SourceIp": d.get("local_ip"),
                "SourcePort": d.get("local_port"),
                "SourceIsIpv6": ipv6,
                "DestinationIp": d.get("remote_ip"),
                "DestinationPort": d.get("remote_port"),
                "DestinationHostname": d.get("hostname"),
                "DestinationIsIpv6": ipv6,
            }
        )
        return {"logsource": _ls("linux", None, "network_connection"), "event": event}
    if kind == "file_event" or kind == "file_delete":
        event = _clean(
            {
                "Image": p.image if p is not None else None,
                "ProcessId": p.pid if p is not None else None,
                "User": p.user if p is not None else None,
                "TargetFilename": d.get("path"),
            }
        )
        return {"logsource": _ls("linux", None, kind), "event": event}
    ls: dict[str, str | None] = _SOURCE_LS.get(act.record.source, {"product": None, "service": act.record.source})
    if act.kind == "dns":
        answers = d.get("answers") or []
        event = _clean(
            {
                "query": d.get("query"),
                "record_type": d.get("record_type"),
                "answer": answers[0] if len(answers) == 1 else (answers or None),
                "src_ip": d.get("client_ip"),
                "src_port": d.get("client_port"),
            }
        )
        return {"logsource": _ls(ls["product"], ls["service"], "dns"), "event": event}
    if act.kind == "proxy":
        path = d.get("path") or ""
        base = posixpath.basename(str(path))
        ext = base.rpartition(".")[2] if "." in base else None
        event = _clean(
            {
                "c-uri": d.get("url"),
                "c-uri-stem": path or None,
                "c-uri-query": d.get("query"),
                "c-uri-extension": ext,
                "c-useragent": d.get("user_agent"),
                "cs-host": d.get("host"),
                "cs-method": d.get("method"),
                "cs-username": d.get("user"),
                "cs-referrer": d.get("referer"),
                "sc-status": d.get("status"),
                "sc-bytes": d.get("bytes"),
                "src_ip": d.get("client_ip"),
                "src_port": d.get("client_port"),
                "dst_ip": d.get("server_ip"),
                "r-dns": d.get("host"),
            }
        )
        return {"logsource": _ls(ls["product"], ls["service"], "proxy"), "event": event}
    if act.kind == "firewall":
        event = _clean(
            {
                "src_ip": d.get("src_ip"),
                "dst_ip": d.get("dst_ip"),
                "src_port": d.get("src_port"),
                "dst_port": d.get("dst_port"),
                "protocol": d.get("protocol"),
                "action": d.get("action"),
                "prefix": d.get("prefix"),
                "icmp_type": d.get("icmp_type"),
            }
        )
        return {"logsource": _ls(ls["product"], ls["service"], "firewall"), "event": event}
    return None


class SigmaView:
    """Streaming builder: feed records (in order) and get their Sigma events.

    Cross-source context (DNS answers) must be in ``extractor.dns`` before records that
    need it arrive; :func:`sigma_events` does that first pass for you.
    """

    def __init__(
        self,
        ctx: ViewContext | None = None,
        extractor: ActivityExtractor | None = None,
        *,
        meta: bool = True,
        auditd_raw: bool = True,
        accelerated: bool = True,
    ) -> None:
        self.ctx = ctx or ViewContext()
        self.extractor = extractor or ActivityExtractor(self.ctx)
        self.meta = meta
        self.auditd_raw = auditd_raw
        self._last_time: object = _NO_TIME
        self._last_iso: str | None = None
        # The C path builds exactly what the Python code below builds, on the same extractor
        # state (tests/views/test_sigma_fast.py); accelerated=False forces the reference.
        self._fast: _sigma_fast.AuditdSigma | None = None
        if accelerated and _sigma_fast is not None:
            self._fast = _sigma_fast.AuditdSigma(
                self.extractor,
                ProcessInfo,
                _AUDITD_LS,
                _int,
                _auditd.X86_64_SYSCALLS,
                posixpath.normpath,
                iso_utc,
                auditd_raw,
                meta,
            )

    def events(self, rec: Record) -> list[SigmaEvent]:
        """The Sigma events of one record, in a stable order (raw records first)."""
        src = rec.source
        if src == "auditd":
            # Hot path: one raw event per audit record plus the semantic ones.
            meta = self._meta(rec) if self.meta else None
            if self._fast is not None:
                fast = self._fast.events(rec.fields.get("records") or [], rec.time, meta)
                if not isinstance(fast, NotImplementedType):
                    return fast
            if self.auditd_raw:
                records = rec.fields.get("records") or []
                if meta is not None:
                    out: list[SigmaEvent] = [{"logsource": _AUDITD_LS, "event": r, "meta": meta} for r in records]
                else:
                    out = [{"logsource": _AUDITD_LS, "event": r} for r in records]
            else:
                out = []
            for act in self.extractor.extract(rec):
                ev = activity_event(act)
                if ev is not None:
                    if meta is not None:
                        ev["meta"] = meta
                    out.append(ev)
            return out
        out = []
        if src in ("sysmon", "evtx"):
            out.append(_sysmon_event(rec, self.extractor.dns, self.ctx))
            self.extractor.extract(rec)  # keep the process table current for the Defender view
        else:
            for act in self.extractor.extract(rec):
                ev = activity_event(act)
                if ev is not None:
                    out.append(ev)
        if self.meta and out:
            meta = self._meta(rec)
            for ev in out:
                ev["meta"] = meta
        return out

    def _meta(self, rec: Record) -> EventMeta:
        t = rec.time
        if t != self._last_time:  # events of one audit burst share a timestamp: format it once
            self._last_time = t
            self._last_iso = iso_utc(t)
        return {"source": rec.source, "file": rec.file, "line": rec.line, "time": self._last_iso}

    def stream(self, records: Iterable[Record]) -> Iterator[SigmaEvent]:
        for rec in records:
            yield from self.events(rec)

    def auditd_stream(
        self, lines: Iterable[str], *, file: str = "-", stats: ParseStats | None = None
    ) -> Iterator[list[SigmaEvent]]:
        """The Sigma events of raw audit log lines, one list per audit event, in input order.

        The same as ``(self.events(rec) for rec in auditd.parse(lines, file=file, stats=stats))``;
        with both C accelerators built, events go from the C grouping loop to the C view
        without :class:`Record` objects (``stats`` are complete when the stream ends).
        """
        st = stats if stats is not None else ParseStats(_auditd.SOURCE)
        grouper = _auditd.make_grouper(lines, file=file, stats=st) if self._fast is not None else None
        if grouper is None:
            for rec in _auditd.parse(lines, file=file, stats=st):
                yield self.events(rec)
            return
        yield from self._drain(grouper, file, st)

    def auditd_file(
        self, path: str | Path, *, file: str | None = None, stats: ParseStats | None = None
    ) -> Iterator[list[SigmaEvent]]:
        """:meth:`auditd_stream` of a raw audit log file, read by the C loop itself when built
        (the lines :func:`~harness.telemetry.parsers.base.open_lines` gives)."""
        name = str(path) if file is None else file
        if not self.reads_binary:
            st = stats if stats is not None else ParseStats(_auditd.SOURCE)
            for rec in _auditd.parse_path(path, file=name, stats=st):
                yield self.events(rec)
            return
        with open_binary(path) as raw:  # gzip or plain, a file or "-" (stdin)
            yield from self.auditd_binary(raw, file=name, stats=stats)

    @property
    def reads_binary(self) -> bool:
        """True when both C accelerators are built: :meth:`auditd_binary` can be used."""
        return self._fast is not None and _auditd.ACCELERATED

    def auditd_binary(
        self, raw: BinaryIO, *, file: str = "-", stats: ParseStats | None = None
    ) -> Iterator[list[SigmaEvent]]:
        """:meth:`auditd_file` of an audit log already opened for binary reading (as
        :func:`~harness.telemetry.inputs.open_binary` opens it), read by the C loop (needs
        :attr:`reads_binary`)."""
        if not self.reads_binary:
            raise TypeError("auditd_binary needs the C accelerators (_auditd_fast, _sigma_fast)")
        st = stats if stats is not None else ParseStats(_auditd.SOURCE)
        yield from self._drain(_auditd.make_grouper(raw=raw, file=file, stats=st), file, st)

    def _drain(self, grouper: Grouper, file: str, st: ParseStats) -> Iterator[list[SigmaEvent]]:
        assert self._fast is not None
        events = self._fast.stream(grouper, file, _auditd._build_event)
        try:
            yield from events
        finally:
            st.read += grouper.read
            st.truncated += grouper.truncated
            st.parsed += events.parsed


def sigma_events(
    records: Iterable[Record], ctx: ViewContext | None = None, *, meta: bool = True, auditd_raw: bool = True
) -> list[SigmaEvent]:
    """The Sigma view of one detonation's records (all sources together), input order kept.

    ``auditd_raw`` keeps every auditd record as a ``{product: linux, service: auditd}``
    event (for SigmaHQ's auditd rules) besides the semantic events.
    """
    recs = list(records)
    view = SigmaView(ctx, meta=meta, auditd_raw=auditd_raw)
    view.extractor.prepare(recs)
    return list(view.stream(recs))

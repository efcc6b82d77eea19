"""The Microsoft Defender advanced-hunting view: ``{"table": ..., "row": {...}}`` per row.

Column names and types follow Microsoft's schema (``harness.rules.kql.schema``; datetimes
as ISO 8601 UTC strings, ``long``/``int`` as integers, ``AdditionalFields`` as a JSON
string as in Defender XDR). Only known columns are written; the KQL engine supplies nulls
for the rest. Mapping (details in docs/ARCHITECTURE.md, "Defender view"):

* process_creation -> DeviceProcessEvents (ActionType ``ProcessCreated``; the parent is the
  initiating process);
* network_connection -> DeviceNetworkEvents (ActionType from the syscall outcome:
  ConnectionSuccess / ConnectionAttempt / ConnectionFailed, ConnectionRequest for datagrams
  and raw probes, InboundConnectionAccepted for Sysmon's accepted side; RemoteUrl from the
  DNS answer the process used, else the SNI/Host the simulated internet saw);
* file_event / file_delete -> DeviceFileEvents (FileCreated / FileDeleted);
* dns (resolver log, Sysmon 22) -> DeviceEvents (ActionType ``DnsQueryResponse``,
  AdditionalFields ``{"DnsQueryString", "DnsQueryType", "DnsQueryResult"}``).
Proxy and firewall logs have no Defender endpoint table and produce no rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from harness.telemetry.parsers.base import Record, iso_utc
from harness.views.activity import Activity, ActivityExtractor, _int
from harness.views.context import ProcessInfo, ViewContext
from harness.views.events import DefenderRecord, DefenderRow


def _basename(path: str | None) -> str | None:
    if not path:
        return None
    # Windows images use backslashes.
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _sha256(hashes: str | None) -> str | None:
    if not hashes:
        return None
    for part in hashes.split(","):
        algo, _, value = part.partition("=")
        if algo.strip().upper() == "SHA256" and value:
            return value.strip().lower()
    return None


def _account(user: str | None) -> tuple[str | None, str | None]:
    """``DOMAIN\\name`` -> (domain, name); Linux users have no domain."""
    if not user:
        return None, None
    if "\\" in user:
        domain, _, name = user.partition("\\")
        return domain, name
    return None, user


def _logon(value: str | None) -> int | None:
    return _int(value) if value is not None else None


def _initiating(p: ProcessInfo | None, parent: ProcessInfo | None) -> DefenderRow:
    if p is None:
        return {}
    domain, name = _account(p.user)
    return {
        "InitiatingProcessFileName": _basename(p.image),
        "InitiatingProcessFolderPath": p.image,
        "InitiatingProcessId": p.pid,
        "InitiatingProcessCommandLine": p.command_line,
        "InitiatingProcessCreationTime": iso_utc(p.time) if p.time is not None else None,
        "InitiatingProcessSHA256": _sha256(p.hashes),
        "InitiatingProcessAccountName": name,
        "InitiatingProcessAccountDomain": domain,
        "InitiatingProcessLogonId": _logon(p.logon_id),
        "InitiatingProcessSessionId": _int(p.session),
        "InitiatingProcessParentId": p.ppid if p.ppid is not None else (parent.pid if parent else None),
        "InitiatingProcessParentFileName": _basename(parent.image) if parent else None,
        "InitiatingProcessParentCreationTime": iso_utc(parent.time) if parent and parent.time else None,
    }


class DefenderView:
    """Streaming builder of Defender rows (see :class:`harness.views.sigma.SigmaView`)."""

    def __init__(self, ctx: ViewContext | None = None, extractor: ActivityExtractor | None = None) -> None:
        self.ctx = ctx or ViewContext()
        self.extractor = extractor or ActivityExtractor(self.ctx)
        self._report_id = 0

    def _base(self, act: Activity, action: str) -> DefenderRow:
        self._report_id += 1
        rec = act.record
        return {
            "Timestamp": iso_utc(rec.time),
            "DeviceId": self.ctx.device_id or None,
            "DeviceName": self.ctx.device_name,
            "ActionType": action,
        }

    def _tail(self, row: DefenderRow, act: Activity, extra: dict[str, object] | None = None) -> DefenderRow:
        rec = act.record
        info: dict[str, object] = {"source": rec.source, "file": rec.file, "line": rec.line}
        if extra:
            info.update(extra)
        row["ReportId"] = self._report_id
        row["AdditionalFields"] = json.dumps(info, sort_keys=True)
        return {k: v for k, v in row.items() if v is not None}

    def row(self, act: Activity) -> tuple[str, DefenderRow] | None:
        """The (table, row) of one activity, or None when Defender has no table for it."""
        p, parent, d = act.process, act.parent, act.data
        if act.kind == "process_creation" and p is not None:
            domain, name = _account(p.user)
            row = self._base(act, "ProcessCreated")
            row.update(
                {
                    "FileName": _basename(p.image),
                    "FolderPath": p.image,
                    "SHA256": _sha256(p.hashes),
                    "ProcessId": p.pid,
                    "ProcessCommandLine": p.command_line,
                    "ProcessCreationTime": iso_utc(p.time),
                    "AccountName": name,
                    "AccountDomain": domain,
                    "LogonId": _logon(p.logon_id),
                    "CreatedProcessSessionId": _int(p.session),
                }
            )
            grand = self.extractor.processes.get(parent.ppid) if parent and parent.ppid else None
            row.update(_initiating(parent, grand))
            if parent is not None and parent.pid is None and p.ppid is not None:
                row["InitiatingProcessId"] = p.ppid
            return "DeviceProcessEvents", self._tail(row, act, {"AuditSession": p.session} if p.session else None)
        if act.kind == "network_connection":
            row = self._base(act, str(d.get("outcome")))
            proto = d.get("protocol")
            row.update(
                {
                    "RemoteIP": d.get("remote_ip"),
                    "RemotePort": d.get("remote_port"),
                    "RemoteUrl": d.get("remote_url"),
                    "LocalIP": d.get("local_ip"),
                    "LocalPort": d.get("local_port"),
                    "Protocol": str(proto).capitalize() if proto else None,
                    "RemoteIPType": self.ctx.ip_type(d.get("remote_ip")),
                    "LocalIPType": self.ctx.ip_type(d.get("local_ip")),
                }
            )
            row.update(_initiating(p, parent))
            extra: dict[str, object] = {}
            if d.get("syscall"):
                extra["Syscall"] = d["syscall"]
            if d.get("protocol_inferred"):
                extra["ProtocolInferred"] = True
            return "DeviceNetworkEvents", self._tail(row, act, extra)
        if act.kind in ("file_event", "file_delete"):
            path = str(d.get("path"))
            sep = "\\" if "\\" in path else "/"
            folder, _, fname = path.rpartition(sep)
            row = self._base(act, "FileCreated" if act.kind == "file_event" else "FileDeleted")
            row.update(
                {
                    "FileName": fname,
                    "FolderPath": path if sep == "\\" else (folder or "/") + "/" + fname,
                    "SHA256": _sha256(d.get("hashes")),
                }
            )
            row.update(_initiating(p, parent))
            return "DeviceFileEvents", self._tail(row, act)
        if act.kind == "dns":
            answers = list(d.get("answers") or [])
            row = self._base(act, "DnsQueryResponse")
            row.update({"RemoteUrl": d.get("query")})
            row.update(_initiating(p, parent))
            fields = {
                "DnsQueryString": d.get("query"),
                "DnsQueryType": d.get("record_type"),
                "DnsQueryResult": [{"DnsQueryType": d.get("record_type"), "Result": a} for a in answers],
                "ClientIP": d.get("client_ip"),
            }
            row["ReportId"] = self._report_id
            rec = act.record
            fields.update({"source": rec.source, "file": rec.file, "line": rec.line})
            row["AdditionalFields"] = json.dumps(fields, sort_keys=True)
            return "DeviceEvents", {k: v for k, v in row.items() if v is not None}
        return None

    def rows(self, rec: Record) -> list[DefenderRecord]:
        out: list[DefenderRecord] = []
        for act in self.extractor.extract(rec):
            tr = self.row(act)
            if tr is not None:
                out.append({"table": tr[0], "row": tr[1]})
        return out

    def stream(self, records: Iterable[Record]) -> Iterator[DefenderRecord]:
        for rec in records:
            yield from self.rows(rec)


def defender_rows(records: Iterable[Record], ctx: ViewContext | None = None) -> list[DefenderRecord]:
    """The Defender view of one detonation's records (all sources together), input order kept."""
    recs = list(records)
    view = DefenderView(ctx)
    view.extractor.prepare(recs)
    return list(view.stream(recs))


__all__ = ["DefenderView", "defender_rows"]

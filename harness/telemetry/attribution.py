"""Tie parsed telemetry to the detonation that caused it (pure functions).

A :class:`Detonation` says what identifies the atomic's activity: the audit session(s) its
SSH connection got (``ses``; Sysmon for Linux reports the same number as
``TerminalSessionId``), the pids of the shells that ran its commands (process tree), its
time window, and the lab host's addresses (for the resolver, proxy, simulated-internet and
NFLOG logs, which know no process). :func:`attribute` keeps the records that belong to it
and counts, per source, what was read, kept, dropped as unrelated and unparseable.

Rules, per source:

* auditd: an event is kept when any record carries one of the sessions (``ses``), or when
  its ``pid`` is a root pid or a descendant of one (children are learnt from ``ppid`` as
  events stream, so input must be in time order as audit logs are). Events without a
  session or pid (CONFIG_CHANGE...) are unrelated. Session/tree matches are kept whatever
  their time (a background child may outlive the last command).
* Sysmon / EVTX: an event 1 whose ``TerminalSessionId`` is one of the sessions, or whose
  ``ProcessId`` is a root pid, starts a lineage; every event whose ``ProcessGuid`` (or, for
  event 1, ``ParentProcessGuid``) is in the lineage is kept. The far end of a connection
  (the simulated internet's server process) is not in the lineage and is dropped.
* dnsmasq, squid, inet, nflog: kept when inside the time window (widened by ``slack_s``;
  dnsmasq stamps whole seconds) and, if ``client_addresses`` are given, when the client
  (source) address is one of them. Daemon messages without a client are unrelated.

When a Detonation gives neither sessions nor root pids, process sources fall back to the
time window alone (reported as such in :attr:`Attribution.method`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.telemetry.parsers.base import ParseStats, Record
from harness.telemetry.parsers.sysmon import guid_neighbours

_UNSET = "4294967295"


@dataclass(frozen=True)
class Detonation:
    """What identifies one detonation's telemetry (times are UTC epoch seconds)."""

    start: float | None = None
    end: float | None = None
    sessions: frozenset[str] = frozenset()
    root_pids: frozenset[int] = frozenset()
    client_addresses: frozenset[str] = frozenset()
    correlation_id: str | None = None
    slack_s: float = 2.0
    # The target's clock minus the controller's (harness.targets.clock): records carry the target's
    # time while start and end are the controller's.
    clock_offset_s: float = 0.0

    def in_window(self, t: float | None) -> bool:
        """True when ``t`` (the target's clock) is inside [start - slack, end + slack] on the
        controller's clock (open ends allowed)."""
        if t is None:
            return self.start is None and self.end is None
        t -= self.clock_offset_s
        if self.start is not None and t < self.start - self.slack_s:
            return False
        return not (self.end is not None and t > self.end + self.slack_s)


@dataclass
class SourceCounts:
    """Per-source accounting of one attribution."""

    source: str
    read: int = 0  # input lines (or EVTX records) the parser read
    records: int = 0  # parsed records (auditd: events) seen by attribution
    kept: int = 0
    dropped_unrelated: int = 0
    unparseable: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "records": self.records,
            "kept": self.kept,
            "dropped_unrelated": self.dropped_unrelated,
            "unparseable": self.unparseable,
        }


@dataclass
class Attribution:
    """The kept records (input order) and the counts per source."""

    kept: list[Record] = field(default_factory=list)
    counts: dict[str, SourceCounts] = field(default_factory=dict)
    method: dict[str, str] = field(default_factory=dict)

    def counts_dict(self) -> dict[str, dict[str, Any]]:
        return {k: v.to_dict() for k, v in self.counts.items()}


class _Tree:
    """Process tree membership learnt while streaming (pids are reused: bounded by time)."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.pids: set[int] = set(roots)

    def observe(self, pid: int | None, ppid: int | None) -> bool:
        if pid is None:
            return False
        if pid in self.pids:
            return True
        if ppid is not None and ppid in self.pids:
            self.pids.add(pid)
            return True
        return False


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _auditd_keep(rec: Record, det: Detonation, tree: _Tree) -> bool:
    records: list[dict[str, Any]] = rec.fields.get("records") or []
    for r in records:
        ses = r.get("ses")
        if ses is not None and ses != _UNSET and ses in det.sessions:
            # Still learn the tree so later events outside the session are attributed.
            tree.observe(_int(r.get("pid")), _int(r.get("ppid")))
            if _int(r.get("pid")) is not None:
                tree.pids.add(int(r["pid"]))
            return True
    return any("pid" in r and tree.observe(_int(r.get("pid")), _int(r.get("ppid"))) for r in records)


class _Lineage:
    """The detonation's Sysmon process GUIDs (and, by pid, for the one-second tolerance)."""

    def __init__(self) -> None:
        self.guids: set[str] = set()
        self._by_pid: dict[int, set[str]] = {}  # lower-cased GUIDs of each lineage pid

    def add(self, guid: object, pid: int | None) -> None:
        if isinstance(guid, str):
            self.guids.add(guid)
            if pid is not None:
                self._by_pid.setdefault(pid, set()).add(guid.lower())

    def holds(self, guid: object, pid: int | None) -> bool:
        """``guid`` is in the lineage, or is a lineage process's GUID whose start second Sysmon
        computed one off (:func:`guid_neighbours`) for the same pid; such a GUID joins the lineage.
        Most events are unrelated: only a pid of the lineage costs more than a dict lookup."""
        if not isinstance(guid, str):
            return False
        if guid in self.guids:
            return True
        known = self._by_pid.get(pid) if pid is not None else None
        if known and any(other in known for other in guid_neighbours(guid)):
            self.add(guid, pid)
            return True
        return False


def _sysmon_keep(rec: Record, det: Detonation, lineage: _Lineage, tree: _Tree) -> bool:
    f = rec.fields
    eid = str(f.get("EventID"))
    guid = f.get("ProcessGuid")
    pid = _int(f.get("ProcessId"))
    if eid == "1":
        ses = str(f.get("TerminalSessionId", ""))
        ppid = _int(f.get("ParentProcessId"))
        in_tree = tree.observe(pid, ppid)
        if (ses and ses in det.sessions) or lineage.holds(f.get("ParentProcessGuid"), ppid) or in_tree:
            lineage.add(guid, pid)
            return True
        return False
    return lineage.holds(guid, pid)


def _client_of(rec: Record) -> list[str]:
    f = rec.fields
    if rec.source == "nflog":
        return [str(x) for x in (f.get("src_ip"), f.get("dest_ip")) if x]
    value = f.get("client_ip") or f.get("client")
    out = [str(value)] if value else []
    # Behind the lab's proxy the service sees the proxy as its client; the lab host is in XFF.
    xff = f.get("x_forwarded_for")
    if xff:
        out += [part.strip() for part in str(xff).split(",") if part.strip()]
    return out


def attribute(
    records: Iterable[Record],
    det: Detonation,
    stats: Mapping[str, ParseStats] | None = None,
) -> Attribution:
    """Keep the records of ``det`` (input order kept) and count per source.

    ``stats`` maps a source name to its parser's :class:`ParseStats` so the counts carry
    lines read and unparseable lines too.
    """
    result = Attribution()
    tree = _Tree(det.root_pids)
    lineage = _Lineage()
    process_scoped = bool(det.sessions or det.root_pids)
    for rec in records:
        counts = result.counts.get(rec.source)
        if counts is None:
            counts = result.counts[rec.source] = SourceCounts(rec.source)
        counts.records += 1
        src = rec.source
        if src == "auditd":
            keep = _auditd_keep(rec, det, tree) if process_scoped else det.in_window(rec.time)
            result.method[src] = "session/process tree" if process_scoped else "time window"
        elif src in ("sysmon", "evtx"):
            keep = _sysmon_keep(rec, det, lineage, tree) if process_scoped else det.in_window(rec.time)
            result.method[src] = "session/ProcessGuid lineage" if process_scoped else "time window"
        else:
            keep = det.in_window(rec.time)
            if keep and det.client_addresses:
                keep = any(c in det.client_addresses for c in _client_of(rec))
            if keep and src == "dnsmasq" and rec.fields.get("action") == "log":
                keep = False  # daemon messages (start, cache cleared) belong to no detonation
            if keep and src == "inet" and rec.fields.get("kind") in ("start", "stop"):
                keep = False
            result.method[src] = "time window + client address" if det.client_addresses else "time window"
        if keep:
            counts.kept += 1
            result.kept.append(rec)
        else:
            counts.dropped_unrelated += 1
    if stats:
        for name, st in stats.items():
            counts = result.counts.get(name)
            if counts is None:
                counts = result.counts[name] = SourceCounts(name)
            counts.read = st.read
            counts.unparseable = st.unparseable
    return result

"""One detonation's telemetry, end to end: mark the logs before, slice them after, redact, parse,
attribute to the detonation, build the two views, and save the documented layout::

    DIR/<run-id>/<atomic-id>/raw/<source>.log   the collected log slices, secrets redacted
    DIR/<run-id>/<atomic-id>/sigma.jsonl        Sigma view
    DIR/<run-id>/<atomic-id>/defender.jsonl     Defender view
    DIR/<run-id>/<atomic-id>/manifest.json      commands, times, exit codes, sensors, counts per source

Secrets are redacted in memory, before anything is written; the unredacted form never is.
"""

from __future__ import annotations

import functools
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.collection import CollectionPlan, SensorStatus, Source, TempDirs
from harness.errors import TelemetryError
from harness.execution.runner import AtomicRun
from harness.targets.clock import ClockOffset
from harness.telemetry.attribution import Attribution, Detonation, attribute
from harness.telemetry.collectors.files import LogTap, Mark, settle_all
from harness.telemetry.parsers import ParseStats, Record, parse_file
from harness.telemetry.redaction import Redactor
from harness.views.context import ViewContext
from harness.views.defender import defender_rows
from harness.views.events import DefenderRecord, SigmaEvent
from harness.views.sigma import sigma_events

LAYOUT_VERSION = 1


@dataclass
class DetonationTelemetry:
    """What one detonation left, attributed and normalised."""

    run: AtomicRun
    records: list[Record]
    sigma: list[SigmaEvent]
    defender: list[DefenderRecord]
    counts: dict[str, dict[str, Any]]
    methods: dict[str, str]
    sensors: list[SensorStatus]
    parse_problems: dict[str, list[tuple[str, int, str]]] = field(default_factory=dict)
    directory: Path | None = None

    def manifest(self) -> dict[str, Any]:
        return {
            "layout_version": LAYOUT_VERSION,
            "atomic": self.run.to_dict(),
            "sensors": [s.to_dict() for s in self.sensors],
            "counts": self.counts,
            "attribution": self.methods,
            "parse_problems": {k: [list(x) for x in v] for k, v in self.parse_problems.items()},
            "views": {"sigma": len(self.sigma), "defender": len(self.defender)},
        }


class TelemetrySession:
    """The taps of one target; ``begin()`` before a detonation, ``finish()`` after it."""

    def __init__(
        self,
        taps: Sequence[LogTap],
        sensors: Sequence[SensorStatus],
        view_context: ViewContext,
        secrets: Iterable[str] = (),
        client_addresses: Iterable[str] = (),
        audit_sync: Callable[[str], None] | None = None,
        sysmon_sees_sync: bool = False,
        proxy_addresses: Iterable[str] = (),
        tempdirs: TempDirs | None = None,
        recheck: Callable[[], Sequence[SensorStatus]] | None = None,
    ) -> None:
        self.proxy_addresses = frozenset(proxy_addresses)
        # harness.lab.state.LabState (tempdir/remove_tempdir): scratch dirs recorded in the state
        # file before they exist, so a killed run's are removed by `lab down`.
        self.tempdirs = tempdirs
        # Asked again after each detonation: a sensor that died during it is unavailable for it.
        self.recheck = recheck
        self.taps = list(taps)
        self.sensors = list(sensors)
        self.ctx = view_context
        self.redactor = Redactor([s for s in secrets if s])
        self.client_addresses = frozenset(client_addresses)
        self.audit_sync = audit_sync
        self.sysmon_sees_sync = sysmon_sees_sync and audit_sync is not None
        self.clock: ClockOffset | None = None  # of the target, when measured

    @classmethod
    def from_plan(cls, plan: CollectionPlan, view_context: ViewContext) -> TelemetrySession:
        """The session that collects what a lab described (its logs, live sensors and secrets)."""
        taps = [LogTap(spec.source, spec.path, spec.sensor, spec.shell) for spec in plan.logs]
        return cls(taps, plan.sensors, view_context, plan.secrets, client_addresses=plan.client_addresses,
                   audit_sync=plan.audit_sync, sysmon_sees_sync=plan.sysmon_sees_sync,
                   proxy_addresses=plan.proxy_addresses, tempdirs=plan.tempdirs,
                   recheck=plan.recheck)

    def begin(self) -> dict[str, Mark]:
        return {tap.source: tap.mark() for tap in self.taps}

    def _slices(self, marks: dict[str, Mark], cid: str) -> list[tuple[bytes, str | None]]:
        """Every tap's slice, in tap order: the audit log (and the lab's Sysmon log, which sees the
        marker's auditctl process) up to the sync marker, the other logs once none of them has grown
        for the quiet window (they are written asynchronously)."""
        out: dict[int, tuple[bytes, str | None]] = {}
        marker = f"recon-harness sync {cid}"
        synced = {Source.AUDITD} | ({Source.SYSMON} if self.sysmon_sees_sync else set())
        if self.audit_sync is not None:
            self.audit_sync(marker)
        others: list[int] = []
        for i, tap in enumerate(self.taps):
            mark = marks.get(tap.source, Mark(0, 0))
            if self.audit_sync is not None and tap.source in synced:
                out[i] = tap.wait_for(mark, marker.encode())
            else:
                others.append(i)
        reads = [functools.partial(self.taps[i].read_slice, marks.get(self.taps[i].source, Mark(0, 0)))
                 for i in others]
        written = [self.taps[i].last_write for i in others]
        for i, got in zip(others, settle_all(reads, size=lambda got: len(got[0]), written=written), strict=True):
            out[i] = got
        return [out[i] for i in range(len(self.taps))]

    def finish(self, run: AtomicRun, marks: dict[str, Mark], out_dir: Path | None = None) -> DetonationTelemetry:
        """Slice every tap, redact, parse, attribute and normalise; save under ``out_dir`` if given."""
        tmp: Path | None = None
        if out_dir is None:
            prefix = "recon-harness-telemetry-"
            tmp = self.tempdirs.tempdir(prefix) if self.tempdirs is not None else Path(tempfile.mkdtemp(prefix=prefix))
            base = tmp
        else:
            base = out_dir
        raw_dir = base / "raw"
        raw_dir.mkdir(parents=True, exist_ok=True)
        try:
            records: list[Record] = []
            stats: dict[str, ParseStats] = {}
            incomplete: dict[str, str] = {}  # sensor -> why its records may be missing (log lost, sensor died)
            for tap, (data, warning) in zip(self.taps, self._slices(marks, run.correlation_id), strict=True):
                text = self.redactor.redact(data.decode("utf-8", errors="replace"))
                raw = raw_dir / f"{tap.source}.log"
                raw.write_text(text)
                st = stats.setdefault(tap.source, ParseStats(tap.source))
                if warning is not None:
                    incomplete[tap.sensor] = f"incomplete log slice: {warning}"
                try:
                    records.extend(parse_file(tap.source, raw, stats=st))
                except TelemetryError as exc:
                    st.bad(str(raw), 0, str(exc))
            if self.recheck is not None:
                for now in self.recheck():
                    if not now.available and now.name not in incomplete:
                        incomplete[now.name] = f"not live after the detonation: {now.reason}"
            records.sort(key=lambda r: r.time or 0.0)
            det = self._detonation(run)
            result: Attribution = attribute(records, det, stats)
            corroborate(result, self.proxy_addresses)
            sigma = sigma_events(result.kept, self.ctx)
            defender = defender_rows(result.kept, self.ctx)
            tel = DetonationTelemetry(
                run=run,
                records=result.kept,
                sigma=sigma,
                defender=defender,
                counts=result.counts_dict(),
                methods=dict(result.method),
                # Missing records cannot be told from absent ones: that sensor is unavailable for
                # this detonation, so the verdicts that need it say so instead of NO_TELEMETRY.
                sensors=[
                    replace(x, available=False, reason=incomplete[x.name])
                    if x.name in incomplete and x.available
                    else x
                    for x in self.sensors
                ],
                parse_problems={k: list(v.examples) for k, v in stats.items() if v.examples},
                directory=out_dir,
            )
            if out_dir is not None:
                write_layout(out_dir, tel)
            return tel
        finally:
            if tmp is not None and self.tempdirs is not None:
                self.tempdirs.remove_tempdir(tmp)
            elif tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def _detonation(self, run: AtomicRun) -> Detonation:
        dets = run.detonation_commands()
        pids = frozenset(c.pid for c in dets if c.pid)
        start = min((c.started_ns for c in dets), default=run.started_ns) / 1e9
        end = max((c.ended_ns for c in dets), default=run.ended_ns) / 1e9
        return Detonation(
            start=start,
            end=end,
            root_pids=pids,
            client_addresses=self.client_addresses,
            correlation_id=run.correlation_id,
            # Window on the target's clock: shifted by its measured offset, widened by its uncertainty.
            slack_s=1.5 + (self.clock.uncertainty_s if self.clock is not None else 0.0),
            clock_offset_s=self.clock.offset_s if self.clock is not None else 0.0,
        )


NETWORK_SOURCES = ("dnsmasq", "squid", "inet", "nflog")


def contacted_destinations(records: Iterable[Record]) -> set[str]:
    """IP addresses the detonation's own processes sent to (audit connect/sendto, Sysmon event 3)."""
    dests: set[str] = set()
    for rec in records:
        if rec.source == "auditd":
            recs = rec.fields.get("records") or []
            syscall = next((r.get("SYSCALL") or r.get("syscall") for r in recs if r.get("type") == "SYSCALL"), None)
            if syscall not in ("connect", "sendto", "sendmsg", "sendmmsg", "42", "44", "46", "307"):
                continue
            for r in recs:
                if r.get("type") == "SOCKADDR" and r.get("saddr_fam") in ("inet", "inet6") and r.get("laddr"):
                    dests.add(str(r["laddr"]))
        elif rec.source in ("sysmon", "evtx"):
            f = rec.fields
            initiated = str(f.get("Initiated", "true")).lower() == "true"
            if str(f.get("EventID")) == "3" and initiated and f.get("DestinationIp"):
                dests.add(str(f["DestinationIp"]))
    return dests


def _ptr_ip(name: str) -> str | None:
    suffix = ".in-addr.arpa"
    if not name.lower().endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    return ".".join(reversed(parts)) if len(parts) == 4 else None


def corroborate(result: Attribution, proxy_addresses: frozenset[str] = frozenset()) -> None:
    """Drop network-level records no process of the detonation accounts for.

    Resolver, proxy, firewall and simulated-internet logs know no process: a time window and the
    lab host's address cannot tell the atomic from another session on the same host. A record of
    theirs is kept only when a process-attributed record (audit connect/sendto, Sysmon event 3)
    went to the same destination; DNS queries when their answer, their PTR address, or an answer
    for the same name was contacted. Through an explicit proxy the client contacts only the proxy,
    so a connection to the proxy corroborates the proxy's and the services' records.
    The records that decide are the attributable source.
    """
    process_recs = [r for r in result.kept if r.source in ("auditd", "sysmon", "evtx")]
    if not process_recs:
        return  # nothing to corroborate with (e.g. replaying network logs alone): keep the window's view
    dests = contacted_destinations(process_recs)
    if proxy_addresses & dests:
        # Through an explicit proxy the upstream addresses are the ones the proxy used for us.
        dests |= {str(r.fields["server_ip"]) for r in result.kept
                  if r.source == "squid" and r.fields.get("server_ip")}
    by_serial: dict[tuple[str, Any], list[Record]] = {}
    for rec in result.kept:
        if rec.source == "dnsmasq":
            by_serial.setdefault((rec.file or "", rec.fields.get("serial")), []).append(rec)
    good_names: set[str] = set()
    good_serials: set[tuple[str, Any]] = set()
    for key, group in by_serial.items():
        for rec in group:
            f = rec.fields
            answer, name = str(f.get("answer") or ""), str(f.get("name") or "")
            if answer in dests or (_ptr_ip(name) or "") in dests:
                good_serials.add(key)
                good_names.add(name.lower())
    for key, group in by_serial.items():
        if any(str(r.fields.get("name") or "").lower() in good_names for r in group):
            good_serials.add(key)

    kept: list[Record] = []
    for rec in result.kept:
        ok = True
        if rec.source == "dnsmasq":
            ok = (rec.file or "", rec.fields.get("serial")) in good_serials
        elif rec.source in ("squid", "inet"):
            server = rec.fields.get("server_ip")
            ok = server is None or str(server) in dests or bool(proxy_addresses & dests)
        elif rec.source == "nflog":
            ok = str(rec.fields.get("dest_ip")) in dests
        if ok:
            kept.append(rec)
        else:
            counts = result.counts[rec.source]
            counts.kept -= 1
            counts.dropped_unrelated += 1
    result.kept[:] = kept
    for src in NETWORK_SOURCES:
        if src in result.method:
            result.method[src] += " + destination contacted by the detonation's processes"


def _jsonl(path: Path, rows: Iterable[Mapping[str, object]]) -> None:
    with path.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, default=str, separators=(",", ":")) + "\n")


def write_layout(out_dir: Path, tel: DetonationTelemetry) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _jsonl(out_dir / "sigma.jsonl", tel.sigma)
    _jsonl(out_dir / "defender.jsonl", tel.defender)
    (out_dir / "manifest.json").write_text(json.dumps(tel.manifest(), indent=2, default=str) + "\n")


def write_manifest_only(out_dir: Path, run: AtomicRun, sensors: Sequence[SensorStatus]) -> None:
    """For an atomic that never detonated (prerequisite missing, refused): no telemetry to attribute."""
    tel = DetonationTelemetry(run=run, records=[], sigma=[], defender=[], counts={}, methods={}, sensors=list(sensors))
    write_layout(out_dir, tel)


def run_dir(base: Path, run_id: str, atomic_id: str) -> Path:
    return base / run_id / atomic_id


def new_run_id() -> str:
    """Sortable and unique: UTC time plus a random suffix."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)

"""Cross-source context the views need: lab facts, DNS answers, SNI/Host, process table."""

from __future__ import annotations

import bisect
import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.telemetry.parsers.base import Record
from harness.telemetry.parsers.sysmon import guid_neighbours

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_TEREDO = ipaddress.ip_network("2001::/32")
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


class _LabConfigLike(Protocol):
    @property
    def device_name(self) -> str: ...

    @property
    def lab_uplink_ip(self) -> IPAddress: ...

    def simulated_internet_ranges(self) -> tuple[IPNetwork, ...]: ...


@dataclass(frozen=True)
class ViewContext:
    """What the views know about the lab.

    ``public_ranges`` are classed ``Public`` whatever their real class (the lab's simulated
    internet uses documentation ranges); ``local_addresses`` are the detonation host's own
    addresses (first one used as SourceIp/LocalIP where the telemetry has none);
    ``dns_max_age_s`` is how old a DNS answer may be and still name a connection.
    """

    device_name: str = "lab-host"
    device_id: str = ""
    public_ranges: tuple[IPNetwork, ...] = ()
    local_addresses: tuple[str, ...] = ()
    dns_max_age_s: float = 600.0

    @classmethod
    def from_lab_config(cls, cfg: _LabConfigLike, **overrides: Any) -> ViewContext:
        """Build from :class:`harness.lab.config.LabConfig` (simulated internet = Public)."""
        values: dict[str, Any] = {
            "device_name": cfg.device_name,
            "public_ranges": tuple(cfg.simulated_internet_ranges()),
            "local_addresses": (str(cfg.lab_uplink_ip),),
        }
        values.update(overrides)
        return cls(**values)

    @property
    def local_ip(self) -> str | None:
        return self.local_addresses[0] if self.local_addresses else None

    def ip_type(self, ip: str | None) -> str | None:
        """Defender's RemoteIPType/LocalIPType: Public, Private, Reserved, Loopback, Teredo,
        FourToSixMapping, Broadcast (lab ``public_ranges`` are Public)."""
        if not ip:
            return None
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if addr.is_loopback:
            return "Loopback"
        if any(addr in net for net in self.public_ranges if net.version == addr.version):
            return "Public"
        if addr.version == 4 and str(addr) == "255.255.255.255":
            return "Broadcast"
        if addr.version == 6:
            if addr in _TEREDO:
                return "Teredo"
            if addr in _MAPPED:
                return "FourToSixMapping"
        if any(addr in net for net in _PRIVATE if net.version == addr.version):
            return "Private"
        if not addr.is_global:
            return "Reserved"
        return "Public"


@dataclass
class DnsIndex:
    """Resolver answers (name <-> address) by time, to name the address a process used."""

    # (time, input order, name): answers stamped in the same second keep the log's order.
    _by_ip: dict[str, list[tuple[float, int, str]]] = field(default_factory=dict)
    _sni: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    _seq: int = 0

    def add_answer(self, time: float | None, name: str, address: str) -> None:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return  # NODATA-IPv6, NXDOMAIN, CNAME targets...
        self._seq += 1
        bisect.insort(self._by_ip.setdefault(address, []), (time or 0.0, self._seq, name.rstrip(".").lower()))

    def knows(self, ip: str) -> bool:
        """Whether any resolver answer names ``ip`` (the C view asks before calling :meth:`name_for`)."""
        return ip in self._by_ip

    def add_server_name(self, time: float | None, server_ip: str, name: str) -> None:
        """A TLS SNI or HTTP Host the simulated internet saw for ``server_ip``."""
        bisect.insort(self._sni.setdefault(server_ip, []), (time or 0.0, name.lower()))

    def feed(self, records: Iterable[Record]) -> DnsIndex:
        """Collect answers from dnsmasq (``reply/config/cached/hosts``), Windows Sysmon 22
        (``QueryResults``) and SNI/Host from the simulated-internet log."""
        for rec in records:
            f = rec.fields
            if rec.source == "dnsmasq":
                if f.get("action") in ("reply", "config", "cached", "hosts") and f.get("answer"):
                    name, answer = str(f.get("name", "")), str(f["answer"])
                    if name.endswith(".in-addr.arpa") or name.endswith(".ip6.arpa"):
                        continue  # PTR: "name" is the address form, answer a host name
                    self.add_answer(rec.time, name, answer)
            elif rec.source in ("sysmon", "evtx") and str(f.get("EventID")) == "22":
                for part in str(f.get("QueryResults", "")).split(";"):
                    part = part.strip().removeprefix("::ffff:")
                    if part:
                        self.add_answer(rec.time, str(f.get("QueryName", "")), part)
            elif rec.source == "inet":
                server = f.get("server_ip")
                seen = f.get("sni") if f.get("kind") == "tls_sni" else f.get("host")
                if isinstance(server, str) and isinstance(seen, str) and seen:
                    self.add_server_name(rec.time, server, seen.partition(":")[0])
        return self

    def name_for(self, ip: str | None, time: float | None, max_age: float = 600.0) -> str | None:
        """The name the resolver answered with ``ip`` for a connection at ``time``.

        Resolver logs have one-second resolution, so an answer stamped up to 1 s "after" the use
        counts. When several names resolved to the same address in that window (whois.arin.net and
        rdap.arin.net share one), the TLS SNI or HTTP Host the service saw closest to ``time``
        (microsecond stamps) decides; otherwise the latest answer in log order.
        """
        entries = self._by_ip.get(ip or "")
        if not ip or not entries:
            return None
        if time is None:
            return entries[-1][2]
        i = bisect.bisect_right(entries, (time + 1.0, 1 << 62, ""))
        window = [e for e in entries[:i] if time - e[0] <= max_age]
        if not window:
            return None
        names = {e[2] for e in window}
        if len(names) > 1:
            seen = self.server_name_for(ip, time, window=2.0)
            if seen in names:
                return seen
        return window[-1][2]

    def server_name_for(self, ip: str | None, time: float | None, window: float = 5.0) -> str | None:
        """SNI or Host seen for ``ip`` within ``window`` seconds of ``time``."""
        entries = self._sni.get(ip or "")
        if not entries:
            return None
        if time is None:
            return entries[-1][1]
        best = min(entries, key=lambda e: abs(e[0] - time))
        return best[1] if abs(best[0] - time) <= window else None


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """What is known of one process (from auditd EXECVE/SYSCALL or Sysmon event 1)."""

    pid: int | None
    ppid: int | None = None
    image: str | None = None
    command_line: str | None = None
    user: str | None = None
    cwd: str | None = None
    time: float | None = None
    session: str | None = None
    guid: str | None = None
    parent_guid: str | None = None
    hashes: str | None = None
    logon_id: str | None = None


class ProcessTable:
    """pid (and Sysmon ProcessGuid) -> latest :class:`ProcessInfo`, bounded (LRU)."""

    def __init__(self, capacity: int = 65536) -> None:
        self._pids: OrderedDict[int, ProcessInfo] = OrderedDict()
        self._guids: OrderedDict[str, ProcessInfo] = OrderedDict()
        self._cap = capacity

    def put(self, info: ProcessInfo) -> None:
        if info.pid is not None:
            self._pids[info.pid] = info
            self._pids.move_to_end(info.pid)
            if len(self._pids) > self._cap:
                self._pids.popitem(last=False)
        if info.guid:
            self._guids[info.guid] = info
            if len(self._guids) > self._cap:
                self._guids.popitem(last=False)

    def get(self, pid: int | None) -> ProcessInfo | None:
        return self._pids.get(pid) if pid is not None else None

    def c_state(self) -> tuple[OrderedDict[int, ProcessInfo], int]:
        """The C contract (harness.views._sigma_fast): the pid table it reads and updates in place
        (most recent last, as :meth:`put` keeps it) and its capacity."""
        return self._pids, self._cap

    def by_guid(self, guid: str | None, pid: int | None = None) -> ProcessInfo | None:
        """The process of a Sysmon ProcessGuid; with ``pid``, also when Sysmon computed the GUID's
        start second one off for a later event of the same process (``guid_neighbours``)."""
        if not guid:
            return None
        found = self._guids.get(guid)
        if found is not None or pid is None:
            return found
        # the pid's own process first: the GUID is parsed only when that process has another GUID,
        # and a match is remembered under this one (a process's later events all carry it)
        info = self._pids.get(pid)
        if info is None or not info.guid or info.guid.lower() not in guid_neighbours(guid):
            return None
        self._guids[guid] = info
        if len(self._guids) > self._cap:
            self._guids.popitem(last=False)
        return info

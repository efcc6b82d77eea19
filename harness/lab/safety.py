"""Refuse to build a lab whose ranges overlap anything the host already uses.

The host's own addresses, routes (every table) and resolvers are read before anything is created;
a lab range that overlaps one of them would hijack or leak the host's traffic.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import LabError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class HostNetworkUse:
    """One thing on the host that occupies address space."""

    network: Network
    what: str  # e.g. "address 192.0.2.2/24 on eth0", "route default via 192.0.2.1"


@dataclass(frozen=True)
class Overlap:
    lab_range: ipaddress.IPv4Network
    host_use: HostNetworkUse

    def __str__(self) -> str:
        return f"lab range {self.lab_range} overlaps the host's {self.host_use.what} ({self.host_use.network})"


def _ip_json(args: Sequence[str]) -> list[dict[str, object]]:
    try:
        out = subprocess.run(["ip", "-j", *args], check=True, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise LabError(f"cannot read the host's network configuration (ip {' '.join(args)}): {exc}") from exc
    data = json.loads(out or "[]")
    return data if isinstance(data, list) else []


def host_network_uses(
    resolv_conf: Path = Path("/etc/resolv.conf"), ignore_links: Iterable[str] = (),
    ignore_blackholes: Iterable[str] = (),
) -> list[HostNetworkUse]:
    """Addresses, routes (all tables, except the default route itself) and resolvers of the host;
    ``ignore_blackholes``: destinations of blackhole routes another lab instance of ours holds."""
    ignored = set(ignore_links)
    ours = set(ignore_blackholes)
    uses: list[HostNetworkUse] = []
    for link in _ip_json(["addr", "show"]):
        ifname = str(link.get("ifname", "?"))
        if ifname in ignored:
            continue
        addr_info = link.get("addr_info")
        for addr in addr_info if isinstance(addr_info, list) else []:
            if not isinstance(addr, dict):
                continue
            local, plen = addr.get("local"), addr.get("prefixlen")
            if local is None or plen is None:
                continue
            net = ipaddress.ip_network(f"{local}/{plen}", strict=False)
            uses.append(HostNetworkUse(net, f"address {local}/{plen} on {ifname}"))
    for route in _ip_json(["route", "show", "table", "all"]) + _ip_json(["-6", "route", "show", "table", "all"]):
        dst = str(route.get("dst", ""))
        dev = str(route.get("dev", ""))
        if dev in ignored or (route.get("type") == "blackhole" and dst in ours):
            continue
        if dst in ("default", "") or route.get("type") in ("broadcast", "multicast"):
            # The default route covers everything by design; its gateway is checked as an address.
            gw = route.get("gateway")
            if gw:
                net = ipaddress.ip_network(str(gw))
                uses.append(HostNetworkUse(net, f"default gateway {gw}"))
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if net.is_multicast or (net.version == 6 and net.is_link_local):
            continue
        table = route.get("table", "main")
        uses.append(HostNetworkUse(net, f"route {dst} dev {dev or '?'} (table {table})"))
    try:
        for line in resolv_conf.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                try:
                    net = ipaddress.ip_network(fields[1].split("%")[0])
                except ValueError:
                    continue
                uses.append(HostNetworkUse(net, f"resolver {fields[1]} in {resolv_conf}"))
    except OSError:
        pass
    return uses


def find_overlaps(lab_ranges: Iterable[ipaddress.IPv4Network], uses: Iterable[HostNetworkUse]) -> list[Overlap]:
    found: list[Overlap] = []
    uses = list(uses)
    for lab_range in lab_ranges:
        for use in uses:
            if use.network.version == 4 and lab_range.overlaps(use.network):
                # Loopback is never ours to collide with, but 127/8 cannot be a lab range either.
                found.append(Overlap(lab_range, use))
    return found


def check_no_overlap(
    lab_ranges: Sequence[ipaddress.IPv4Network],
    resolv_conf: Path = Path("/etc/resolv.conf"),
    ignore_links: Iterable[str] = (),
    ignore_blackholes: Iterable[str] = (),
) -> None:
    """Raise LabError listing every overlap between the lab's ranges and the host's."""
    overlaps = find_overlaps(lab_ranges, host_network_uses(resolv_conf, ignore_links, ignore_blackholes))
    if overlaps:
        lines = "\n  ".join(str(o) for o in overlaps)
        raise LabError(
            "refusing to build the lab: its ranges overlap the host's network\n  "
            + lines
            + "\nChoose free ranges in the lab config (for example inside 198.18.0.0/15 or 198.51.100.0/24)"
            " and pass it with --lab-config."
        )

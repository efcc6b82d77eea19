"""The scope guard: no scan or lookup leaves the lab's declared ranges, names and ASNs.

It reads what a command would really touch: every IPv4 address and CIDR in the rendered command,
the host of every URL, ``/AS<n>`` paths, and input-argument values that look like domain names.
Anything outside the scope is refused before the command runs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.errors import ScopeError
from harness.lab.config import LabConfig

_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?:/(\d{1,2}))?(?![\w.])")
_URL = re.compile(r"\bhttps?://([^/\s:'\"?#]+)(?::\d+)?([^\s'\"]*)", re.IGNORECASE)
_ASN_PATH = re.compile(r"/AS(\d+)\b", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?=.*[a-z])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*\.?$", re.IGNORECASE)


@dataclass(frozen=True)
class Scope:
    ranges: tuple[ipaddress.IPv4Network, ...]
    domains: tuple[str, ...]
    asns: tuple[int, ...]
    service_hosts: tuple[str, ...]  # the (simulated) services atomics may query

    @classmethod
    def from_lab(cls, cfg: LabConfig) -> Scope:
        return cls(
            ranges=cfg.scope.ranges,
            domains=cfg.scope.domains,
            asns=cfg.scope.asns,
            service_hosts=tuple(h.lower() for s in cfg.services for h in s.hosts),
        )

    def ip_in_scope(self, net: ipaddress.IPv4Network) -> bool:
        return any(net.subnet_of(r) for r in self.ranges)

    def domain_in_scope(self, name: str) -> bool:
        name = name.lower().rstrip(".")
        if name in self.service_hosts:
            return True
        return any(name == d or name.endswith("." + d) for d in self.domains)

    def violations(self, command: str, arguments: Mapping[str, str] | None = None) -> list[str]:
        """Every reason ``command`` (with its argument values) would leave the scope."""
        found: list[str] = []
        for match in _IPV4.finditer(command):
            addr, plen = match.group(1), match.group(2)
            try:
                net = ipaddress.IPv4Network(f"{addr}/{plen or 32}", strict=False)
            except ValueError:
                continue
            if net.is_loopback:
                continue
            if not self.ip_in_scope(net):
                found.append(f"address {match.group(0)} is outside the lab ranges {_fmt(self.ranges)}")
        for match in _URL.finditer(command):
            host, path = match.group(1).lower(), match.group(2)
            try:
                ipaddress.IPv4Address(host)
                continue  # literal address: checked above
            except ValueError:
                pass
            if not self.domain_in_scope(host):
                found.append(
                    f"URL host {host} is neither a lab service nor inside the lab domains {list(self.domains)}"
                )
            for asn in _ASN_PATH.findall(path):
                if int(asn) not in self.asns:
                    found.append(f"AS{asn} is outside the lab's ASNs {list(self.asns)}")
        for name, value in (arguments or {}).items():
            v = value.strip()
            if "/" in v or " " in v or not _DOMAIN.match(v):
                continue
            if not self.domain_in_scope(v):
                found.append(f"argument {name}={v} names a domain outside the lab domains {list(self.domains)}")
        return sorted(set(found))

    def check(self, command: str, arguments: Mapping[str, str] | None = None, what: str = "command") -> None:
        problems = self.violations(command, arguments)
        if problems:
            raise ScopeError(f"refused {what}: " + "; ".join(problems))


def _fmt(nets: Iterable[ipaddress.IPv4Network]) -> list[str]:
    return [str(n) for n in nets]

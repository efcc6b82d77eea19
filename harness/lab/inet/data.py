"""What the simulated internet knows, derived from the lab config only.

Every answer (Shodan hosts, ARIN nets, RDAP objects, BGP prefixes, subdomain listings) is computed
from the live hosts, the sweep range, the scope ranges, the scope ASN and the scope domains, so a
different lab TOML gives a consistent different internet.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

from harness.lab.config import LabConfig

IPv4 = ipaddress.IPv4Address
Net4 = ipaddress.IPv4Network

# Open ports and products by the first label of a live host's name; anything else is a web server.
_ROLE_SERVICES: dict[str, tuple[tuple[int, str, str, str], ...]] = {
    # (port, product, version, banner) ; banners are what the real scanners record
    "gw": (
        (
            443,
            "nginx",
            "1.24.0",
            "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\n\r\n",
        ),
    ),
    "mail": (
        (25, "Postfix smtpd", "", "220 {name} ESMTP Postfix\r\n"),
        (
            443,
            "nginx",
            "1.24.0",
            "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\n\r\n",
        ),
    ),
    "vpn": ((443, "OpenVPN", "", "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"),),
    "ci": (
        (22, "OpenSSH", "9.2p1 Debian 2+deb12u3", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"),
        (
            443,
            "Jenkins",
            "2.440.3",
            "HTTP/1.1 200 OK\r\nX-Jenkins: 2.440.3\r\nContent-Type: text/html\r\n\r\n",
        ),
    ),
}
_DEFAULT_SERVICES = (
    (
        80,
        "Apache httpd",
        "2.4.62",
        "HTTP/1.1 301 Moved Permanently\r\nServer: Apache/2.4.62 (Debian)\r\n\r\n",
    ),
    (443, "Apache httpd", "2.4.62", "HTTP/1.1 200 OK\r\nServer: Apache/2.4.62 (Debian)\r\n\r\n"),
)

# Fixed registry dates: the data must not change between runs.
REGISTRATION_DATE = "2014-03-18T09:41:07-04:00"
UPDATE_DATE = "2024-06-11T14:22:53-04:00"


@dataclass(frozen=True)
class OpenPort:
    port: int
    transport: str
    product: str
    version: str
    banner: str


@dataclass(frozen=True)
class KnownHost:
    ip: IPv4
    name: str
    ports: tuple[OpenPort, ...]


@dataclass(frozen=True)
class RegisteredNet:
    """A registry network record (ARIN net / RDAP ip network / BGP prefix)."""

    network: Net4
    handle: str
    name: str
    kind: str  # ARIN net type code: DA direct allocation, S reassignment
    parent: RegisteredNet | None


@dataclass(frozen=True)
class LabData:
    """The simulated internet's knowledge base."""

    hosts: tuple[KnownHost, ...]
    nets: tuple[RegisteredNet, ...]
    asn: int | None
    org_handle: str
    org_name: str
    domains: tuple[str, ...]
    country_code: str = "US"
    country_name: str = "United States"
    city: str = "Reston"

    def host(self, ip: IPv4) -> KnownHost | None:
        return next((h for h in self.hosts if h.ip == ip), None)

    def hosts_in(self, net: Net4) -> list[KnownHost]:
        return [h for h in self.hosts if h.ip in net]

    def most_specific_net(self, ip: IPv4) -> RegisteredNet | None:
        matches = [n for n in self.nets if ip in n.network]
        return max(matches, key=lambda n: n.network.prefixlen) if matches else None

    def net_by_handle(self, handle: str) -> RegisteredNet | None:
        return next((n for n in self.nets if n.handle.upper() == handle.upper()), None)

    def hosts_of_domain(self, domain: str) -> list[KnownHost]:
        domain = domain.lower().strip(".")
        return [h for h in self.hosts if h.name == domain or h.name.endswith("." + domain)]

    def domain_in_scope(self, domain: str) -> str | None:
        """The scope domain ``domain`` is, or lies under; ``None`` when out of scope."""
        domain = domain.lower().strip(".")
        return next((d for d in self.domains if domain == d or domain.endswith("." + d)), None)

    @property
    def asn_str(self) -> str:
        return f"AS{self.asn}" if self.asn is not None else ""


def _net_handle(net: Net4) -> str:
    return "NET-" + str(net.network_address).replace(".", "-") + "-1"


def build_lab_data(cfg: LabConfig) -> LabData:
    domain = cfg.scope.domains[0] if cfg.scope.domains else "example.test"
    stem = domain.split(".")[0].upper()
    org_handle = f"{stem}-LAB"
    org_name = f"{stem.title()} Lab Network"
    hosts = []
    for live in cfg.live_hosts:
        role = live.name.split(".")[0].lower()
        ports = tuple(
            OpenPort(p, "tcp", prod, ver, banner.format(name=live.name))
            for p, prod, ver, banner in _ROLE_SERVICES.get(role, _DEFAULT_SERVICES)
        )
        hosts.append(KnownHost(live.ip, live.name.lower(), ports))
    nets: list[RegisteredNet] = []
    for i, r in enumerate(cfg.scope.ranges):
        nets.append(RegisteredNet(r, _net_handle(r), f"{stem}-LAB-NET-{i + 1}", "DA", None))
    parent = next((n for n in nets if cfg.sweep_range.subnet_of(n.network)), None)
    if parent is None or parent.network != cfg.sweep_range:
        nets.append(RegisteredNet(cfg.sweep_range, _net_handle(cfg.sweep_range), f"{stem}-SERVERS", "S", parent))
    return LabData(
        hosts=tuple(hosts),
        nets=tuple(nets),
        asn=cfg.scope.asns[0] if cfg.scope.asns else None,
        org_handle=org_handle,
        org_name=org_name,
        domains=cfg.scope.domains,
    )


def stable_hash(*parts: object) -> int:
    """A signed 32-bit hash that does not change between runs (Shodan's banner ``hash`` field)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)

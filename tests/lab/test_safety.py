import ipaddress
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.lab.safety import HostNetworkUse, check_no_overlap, find_overlaps, host_network_uses


def N(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_overlap_with_address_route_and_resolver_is_found() -> None:
    uses = [
        HostNetworkUse(N("192.0.2.0/24"), "address 192.0.2.2/24 on eth0"),
        HostNetworkUse(N("203.0.113.0/24"), "route 203.0.113.0/24 dev eth1 (table main)"),
        HostNetworkUse(N("198.51.100.53/32"), "resolver 198.51.100.53 in /etc/resolv.conf"),
    ]
    found = find_overlaps([N("192.0.2.0/24"), N("203.0.113.0/28"), N("198.51.100.0/24"), N("198.18.0.0/30")], uses)
    assert [(str(o.lab_range), o.host_use.what.split()[0]) for o in found] == [
        ("192.0.2.0/24", "address"), ("203.0.113.0/28", "route"), ("198.51.100.0/24", "resolver")]


def test_default_lab_ranges_are_free_on_this_host() -> None:
    # The packaged defaults must work here: 198.51.100.0/24 and 198.18.0.0/15 are free.
    cfg = load_lab_config()
    if Path(f"/sys/class/net/{EmbeddedLab(cfg).host_veth}").exists():
        pytest.skip(f"the embedded lab {cfg.name} is up (a lab test or run holds it): its own routes use these ranges")
    check_no_overlap(cfg.lab_ranges())


def test_host_network_is_read_for_real() -> None:
    uses = host_network_uses()
    assert any(u.what.startswith("address 127.0.0.1") for u in uses)


def test_ranges_the_host_uses_are_refused_with_a_clear_message() -> None:
    # On these machines 192.0.2.0/24 is the host's own network: a lab there must be refused.
    used = [u.network for u in host_network_uses() if u.what.startswith("address") and u.network.version == 4
            and not u.network.is_loopback]
    if not used:
        pytest.skip("host has no non-loopback IPv4 address")
    net = used[0]
    with pytest.raises(LabError, match=rf"(?s)refusing to build the lab.*{net.network_address}"):
        check_no_overlap([ipaddress.IPv4Network(net)])

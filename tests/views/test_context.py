from __future__ import annotations

import ipaddress

from harness.views.context import DnsIndex, ViewContext


def test_ip_types() -> None:
    ctx = ViewContext(public_ranges=(ipaddress.ip_network("198.51.100.0/24"),))
    assert ctx.ip_type("198.51.100.10") == "Public"
    assert ctx.ip_type("203.0.113.5") == "Reserved"
    assert ctx.ip_type("10.1.2.3") == "Private"
    assert ctx.ip_type("127.0.0.1") == "Loopback"
    assert ctx.ip_type("::1") == "Loopback"
    assert ctx.ip_type("255.255.255.255") == "Broadcast"
    assert ctx.ip_type("2001:0:4136:e378:8000:63bf:3fff:fdd2") == "Teredo"
    assert ctx.ip_type("::ffff:10.0.0.1") == "FourToSixMapping"
    assert ctx.ip_type("8.8.8.8") == "Public"
    assert ctx.ip_type("not-an-ip") is None


def test_dns_index_picks_latest_answer_before_use() -> None:
    dns = DnsIndex()
    dns.add_answer(100.0, "whois.arin.net", "198.51.100.20")
    dns.add_answer(200.0, "rdap.arin.net", "198.51.100.20")
    dns.add_answer(150.0, "x", "NODATA-IPv6")
    assert dns.name_for("198.51.100.20", 150.0) == "whois.arin.net"
    assert dns.name_for("198.51.100.20", 200.5) == "rdap.arin.net"  # answer stamped to the second
    assert dns.name_for("198.51.100.20", 50.0) is None
    assert dns.name_for("198.51.100.20", 5000.0, max_age=600) is None
    assert dns.name_for("198.51.100.99", 150.0) is None


def test_from_lab_config() -> None:
    from harness.lab.config import load_lab_config

    cfg = load_lab_config()
    ctx = ViewContext.from_lab_config(cfg)
    assert ctx.device_name == cfg.device_name and ctx.local_ip == str(cfg.lab_uplink_ip)
    assert all(ctx.ip_type(str(net.network_address + 1)) == "Public" for net in cfg.simulated_internet_ranges())


def test_same_second_answers_for_one_address_are_told_apart_by_sni() -> None:
    from harness.views.context import DnsIndex

    idx = DnsIndex()
    # whois.arin.net and rdap.arin.net share 198.51.100.20; dnsmasq stamps whole seconds.
    idx.add_answer(100.0, "whois.arin.net", "198.51.100.20")
    idx.add_answer(100.0, "rdap.arin.net", "198.51.100.20")
    idx.add_server_name(100.312, "198.51.100.20", "whois.arin.net")
    idx.add_server_name(100.845, "198.51.100.20", "rdap.arin.net")
    assert idx.name_for("198.51.100.20", 100.300) == "whois.arin.net"
    assert idx.name_for("198.51.100.20", 100.840) == "rdap.arin.net"
    # Without SNI the latest answer in log order wins, not the alphabetically last one.
    bare = DnsIndex()
    bare.add_answer(100.0, "whois.arin.net", "198.51.100.20")
    bare.add_answer(100.0, "rdap.arin.net", "198.51.100.20")
    assert bare.name_for("198.51.100.20", 100.5) == "rdap.arin.net"

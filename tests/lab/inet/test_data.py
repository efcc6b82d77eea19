"""The simulated internet follows the lab config: another TOML gives another, consistent internet."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.lab.config import load_lab_config
from harness.lab.inet import arin, bgphe, search_sites, shodan
from harness.lab.inet.data import build_lab_data
from harness.lab.inet.message import Request

REPO = Path(__file__).resolve().parents[3]


def _other_lab(tmp_path: Path) -> Path:
    text = (REPO / "harness/lab/default-lab.toml").read_text()
    text = text.replace("asns = [64500]", "asns = [64511]").replace("example.test", "corp.invalid")
    text = text.replace('range = "198.51.100.128/28"', 'range = "198.51.100.128/27"')
    path = tmp_path / "other.toml"
    path.write_text(text)
    return path


def _req(host: str, path: str, query: str = "", **headers: str) -> Request:
    return Request("GET", host, path, query, {k.lower(): v for k, v in headers.items()}, tls=True, sni=host)


def test_other_config_changes_every_service(tmp_path: Path) -> None:
    lab = build_lab_data(load_lab_config(_other_lab(tmp_path)))
    assert lab.asn == 64511 and lab.domains == ("corp.invalid",)

    host = json.loads(shodan.handle_api(_req("api.shodan.io", "/shodan/host/198.51.100.130", "key=k"), lab).body)
    assert host["asn"] == "AS64511" and host["hostnames"] == ["intranet.corp.invalid"]

    xml = arin.handle_whois(_req("whois.arin.net", "/rest/ip/198.51.100.150"), lab)
    root = ET.fromstring(xml.body.split(b"?>", 2)[-1])
    ns = {"w": arin.WHOIS_NS}
    assert root.findtext("w:netBlocks/w:netBlock/w:cidrLength", namespaces=ns) == "27"

    assert bgphe.handle(_req("bgp.he.net", "/AS64511"), lab).status == 200
    assert bgphe.handle(_req("bgp.he.net", "/AS64500"), lab).status == 404

    page = search_sites.handle_bing(_req("www.bing.com", "/search", 'q=%40"corp.invalid"&first=0'), lab)
    assert b"https://intranet.corp.invalid" in page.body
    page = search_sites.handle_bing(_req("www.bing.com", "/search", 'q=%40"example.test"&first=0'), lab)
    assert b"intranet" not in page.body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "net:198.51.100.128/28",
            {"198.51.100.129", "198.51.100.130", "198.51.100.133", "198.51.100.137", "198.51.100.142"},
        ),
        ("net:198.51.100.128/30", {"198.51.100.129", "198.51.100.130"}),
        ("net:198.51.100.128/28 port:25", {"198.51.100.133"}),
        ("hostname:example.test port:22", {"198.51.100.142"}),
        ("ip:198.51.100.137", {"198.51.100.137"}),
        ("asn:AS64500 Jenkins", {"198.51.100.142"}),
        ("net:203.0.113.0/24", set()),
    ],
)
def test_search_filters(query: str, expected: set[str]) -> None:
    lab = build_lab_data(load_lab_config())
    assert {str(h.ip) for h, _ in shodan.search(query, lab)} == expected


@pytest.mark.parametrize("query", ["", "net:nonsense", "bogus:1", 'org:"unterminated'])
def test_search_rejects_bad_queries(query: str) -> None:
    lab = build_lab_data(load_lab_config())
    resp = shodan.handle_api(_req("api.shodan.io", "/shodan/host/search", f"key=k&query={query}"), lab)
    assert resp.status == 400 and "error" in json.loads(resp.body)

"""whois.arin.net (Whois-RWS) and rdap.arin.net (RFC 9083), read with requests, xml.etree and curl."""

from __future__ import annotations

import ipaddress
import subprocess
from xml.etree import ElementTree as ET

import pytest
import requests

from .conftest import InetServer

NS = {"w": "https://www.arin.net/whoisrws/core/v1"}
pytestmark = pytest.mark.usefixtures("lab_resolve")


def _get(inet: InetServer, host: str, path: str, **headers: str) -> requests.Response:
    return requests.get(inet.url(host, path), headers=headers, verify=str(inet.ca), timeout=10)


def test_whois_rws_xml_is_namespaced_net(inet: InetServer) -> None:
    r = _get(inet, "whois.arin.net", "/rest/ip/198.51.100.130")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == f"{{{NS['w']}}}net"
    start = ipaddress.IPv4Address(root.findtext("w:startAddress", namespaces=NS))
    end = ipaddress.IPv4Address(root.findtext("w:endAddress", namespaces=NS))
    assert start <= ipaddress.IPv4Address("198.51.100.130") <= end
    handle = root.findtext("w:handle", namespaces=NS)
    assert handle and handle.startswith("NET-")
    assert root.findtext("w:ref", namespaces=NS) == f"https://whois.arin.net/rest/net/{handle}"
    for tag in ("name", "registrationDate", "updateDate", "version"):
        assert root.findtext(f"w:{tag}", namespaces=NS), tag
    block = root.find("w:netBlocks/w:netBlock", NS)
    assert block is not None
    cidr = ipaddress.IPv4Network(
        f"{block.findtext('w:startAddress', namespaces=NS)}/{block.findtext('w:cidrLength', namespaces=NS)}"
    )
    assert ipaddress.IPv4Address("198.51.100.130") in cidr
    org = root.find("w:orgRef", NS)
    assert (
        org is not None and org.get("handle") and org.text and org.text.startswith("https://whois.arin.net/rest/org/")
    )
    # The most specific net (the sweep range) points at its parent allocation.
    parent = root.find("w:parentNetRef", NS)
    assert parent is not None and parent.get("handle")
    r2 = _get(inet, "whois.arin.net", f"/rest/net/{parent.get('handle')}")
    assert r2.status_code == 200
    assert ET.fromstring(r2.content).findtext("w:handle", namespaces=NS) == parent.get("handle")


@pytest.mark.parametrize("how", ["accept", "suffix"])
def test_whois_rws_json_form(inet: InetServer, how: str) -> None:
    if how == "accept":
        r = _get(inet, "whois.arin.net", "/rest/ip/198.51.100.130", Accept="application/json")
    else:
        r = _get(inet, "whois.arin.net", "/rest/ip/198.51.100.130.json")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    net = r.json()["net"]
    assert net["@xmlns"]["$"] == NS["w"]
    assert net["startAddress"]["$"] == "198.51.100.128"
    assert net["handle"]["$"].startswith("NET-")
    assert net["netBlocks"]["netBlock"]["cidrLength"]["$"] == "28"
    assert net["orgRef"]["@handle"] and net["orgRef"]["$"].startswith("https://whois.arin.net/rest/org/")
    assert net["version"]["$"] == "4"


def test_whois_outside_scope_is_404(inet: InetServer) -> None:
    assert _get(inet, "whois.arin.net", "/rest/ip/203.0.113.5").status_code == 404
    assert _get(inet, "whois.arin.net", "/rest/ip/999.1.1.1").status_code == 400


RFC9083_IP_NETWORK = {"objectClassName", "handle", "startAddress", "endAddress", "ipVersion"}


def test_rdap_ip_network_object(inet: InetServer) -> None:
    r = _get(inet, "rdap.arin.net", "/registry/ip/198.51.100.130", Accept="application/json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/rdap+json"
    doc = r.json()
    assert doc.keys() >= RFC9083_IP_NETWORK
    assert doc["objectClassName"] == "ip network" and doc["ipVersion"] == "v4"
    assert "rdap_level_0" in doc["rdapConformance"]
    net = ipaddress.summarize_address_range(
        ipaddress.IPv4Address(doc["startAddress"]), ipaddress.IPv4Address(doc["endAddress"])
    )
    assert any(ipaddress.IPv4Address("198.51.100.130") in n for n in net)
    assert doc["parentHandle"].startswith("NET-") and doc["type"] and doc["name"] and doc["country"] == "US"
    assert doc["port43"] == "whois.arin.net"
    self_links = [link for link in doc["links"] if link["rel"] == "self"]
    assert self_links and self_links[0]["href"].startswith("https://rdap.arin.net/registry/ip/")
    assert {e["eventAction"] for e in doc["events"]} >= {"registration", "last changed"}
    for notice in doc["notices"]:
        assert isinstance(notice["description"], list)
    entity = doc["entities"][0]
    assert entity["objectClassName"] == "entity" and "registrant" in entity["roles"]
    vcard = entity["vcardArray"]
    assert vcard[0] == "vcard" and ["version", {}, "text", "4.0"] in vcard[1]
    fn = [p for p in vcard[1] if p[0] == "fn"]
    assert fn and fn[0][3]


def test_rdap_errors_are_rfc9083_objects(inet: InetServer) -> None:
    for path, status in (("/registry/ip/203.0.113.9", 404), ("/registry/ip/1.2.3.999", 400)):
        r = _get(inet, "rdap.arin.net", path)
        assert r.status_code == status
        assert r.headers["Content-Type"] == "application/rdap+json"
        err = r.json()
        assert err["errorCode"] == status and err["title"] and isinstance(err["description"], list)


def _curl(cacert: str, resolve: str, url: str) -> subprocess.CompletedProcess[str]:
    """The real curl: --resolve pins the name to loopback (SNI and Host stay the lab name)."""
    cmd = ["curl", "-sS", "--fail", "--noproxy", "*", "--cacert", cacert, "--resolve", resolve, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_curl_verifies_lab_cert_via_sni(inet: InetServer, tmp_path: object) -> None:
    """The real curl: --resolve pins the name to loopback, --cacert trusts only the lab CA."""
    url = f"https://whois.arin.net:{inet.https_port}/rest/ip/198.51.100.130"
    res = _curl(str(inet.ca), f"whois.arin.net:{inet.https_port}:127.0.0.1", url)
    assert res.returncode == 0, res.stderr
    root = ET.fromstring(res.stdout.split("?>", 2)[-1])
    assert root.findtext("w:startAddress", namespaces=NS) == "198.51.100.128"
    rec = inet.wait_for(lambda r: r["kind"] == "http" and r.get("user_agent", "").startswith("curl/"))
    assert rec["sni"] == "whois.arin.net" and rec["host"] == "whois.arin.net" and rec["status"] == 200
    assert rec["path"] == "/rest/ip/198.51.100.130" and rec["accept"] == "*/*"


def test_curl_rejects_wrong_ca_and_wrong_name(inet: InetServer) -> None:
    port = inet.https_port
    # System trust store only: the lab CA is not trusted outside the lab.
    res = _curl(
        "/etc/ssl/certs/ca-certificates.crt",
        f"rdap.arin.net:{port}:127.0.0.1",
        f"https://rdap.arin.net:{port}/registry/ip/198.51.100.1",
    )
    assert res.returncode == 60, res.stderr
    inet.wait_for(lambda r: r["kind"] == "tls_error" and r["sni"] == "rdap.arin.net")
    # A name no lab certificate carries: the default certificate is served and curl refuses it.
    res = _curl(str(inet.ca), f"unknown.example.org:{port}:127.0.0.1", f"https://unknown.example.org:{port}/")
    assert res.returncode == 60, res.stderr
    sni = inet.wait_for(lambda r: r["kind"] == "tls_sni" and r["sni"] == "unknown.example.org")
    assert sni["sni_known"] is False
    inet.wait_for(lambda r: r["kind"] == "tls_error" and r["sni"] == "unknown.example.org")

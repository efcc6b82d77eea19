"""whois.arin.net (Whois-RWS REST, XML or JSON) and rdap.arin.net (RFC 9083 RDAP).

Whois-RWS ``/rest/ip/{ip}`` and ``/rest/net/{handle}`` answer the most specific registered net:
XML in the ``https://www.arin.net/whoisrws/core/v1`` namespace by default, ARIN's JSON form (text in
``"$"``, attributes as ``"@name"``) for ``Accept: application/json`` or a ``.json`` suffix.
Addresses outside the lab's scope ranges get 404, as unregistered space would.

RDAP ``/registry/ip/{ip}`` (or ``{prefix}/{len}``) returns an ``ip network`` object with
``application/rdap+json``; unknown addresses get an RFC 9083 error object (``errorCode``,
``title``, ``description``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from xml.etree import ElementTree as ET

from harness.lab.inet.data import REGISTRATION_DATE, UPDATE_DATE, LabData, RegisteredNet
from harness.lab.inet.message import Request, Response, json_response, text_response

WHOIS_NS = "https://www.arin.net/whoisrws/core/v1"
WHOIS_BASE = "https://whois.arin.net/rest"
RDAP_BASE = "https://rdap.arin.net/registry"
RDAP_TYPE = "application/rdap+json"
# Serialise the Whois-RWS namespace as the default one, as ARIN does.
ET.register_namespace("", WHOIS_NS)
COPYRIGHT = "Copyright 1997-2026, American Registry for Internet Numbers, Ltd."
TERMS = "https://www.arin.net/resources/registry/whois/tou/"
_NET_TYPES = {"DA": ("Direct Allocation", "DIRECT ALLOCATION"), "S": ("Reassigned", "REASSIGNMENT")}
_REST_IP = re.compile(r"^/rest/ip/([0-9.]+)(\.json|\.xml)?$")
_REST_NET = re.compile(r"^/rest/net/([A-Za-z0-9-]+)(\.json|\.xml)?$")
_RDAP_IP = re.compile(r"^/registry/ip/([0-9.]+)(?:/(\d{1,2}))?$")


# --- Whois-RWS ---------------------------------------------------------------------------------
def _net_fields(net: RegisteredNet, lab: LabData) -> list[tuple[str, dict[str, str], Any]]:
    """(element, attributes, text or children) in ARIN's document order."""
    desc, _ = _NET_TYPES.get(net.kind, ("Allocated", "ALLOCATED"))
    block: list[tuple[str, dict[str, str], Any]] = [
        ("cidrLength", {}, str(net.network.prefixlen)),
        ("endAddress", {}, str(net.network.broadcast_address)),
        ("description", {}, desc),
        ("type", {}, net.kind),
        ("startAddress", {}, str(net.network.network_address)),
    ]
    fields: list[tuple[str, dict[str, str], Any]] = [
        ("registrationDate", {}, REGISTRATION_DATE),
        ("ref", {}, f"{WHOIS_BASE}/net/{net.handle}"),
        ("endAddress", {}, str(net.network.broadcast_address)),
        ("handle", {}, net.handle),
        ("name", {}, net.name),
        ("netBlocks", {}, [("netBlock", {}, block)]),
        (
            "resources",
            {
                "inaccuracyReportUrl": "https://www.arin.net/resources/registry/whois/inaccuracy_reporting/",
                "termsOfUse": TERMS,
            },
            [("limitExceeded", {"limit": "256"}, "false")],
        ),
        ("orgRef", {"handle": lab.org_handle, "name": lab.org_name}, f"{WHOIS_BASE}/org/{lab.org_handle}"),
    ]
    if net.parent is not None:
        fields.append(
            (
                "parentNetRef",
                {"handle": net.parent.handle, "name": net.parent.name},
                f"{WHOIS_BASE}/net/{net.parent.handle}",
            )
        )
    fields += [
        ("startAddress", {}, str(net.network.network_address)),
        ("updateDate", {}, UPDATE_DATE),
        ("version", {}, "4"),
    ]
    return fields


def _to_xml(parent: ET.Element, fields: list[tuple[str, dict[str, str], Any]]) -> None:
    for tag, attrs, value in fields:
        el = ET.SubElement(parent, f"{{{WHOIS_NS}}}{tag}", attrs)
        if isinstance(value, list):
            _to_xml(el, value)
        else:
            el.text = value


def whois_net_xml(net: RegisteredNet, lab: LabData) -> bytes:
    root = ET.Element(f"{{{WHOIS_NS}}}net", {"copyrightNotice": COPYRIGHT, "termsOfUse": TERMS})
    _to_xml(root, _net_fields(net, lab))
    body = ET.tostring(root, encoding="unicode")
    head = "<?xml version='1.0'?><?xml-stylesheet type='text/xsl' href='https://whois.arin.net/xsl/website.xsl' ?>"
    return (head + body).encode()


def _to_json(fields: list[tuple[str, dict[str, str], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, attrs, value in fields:
        node: dict[str, Any] = {f"@{k}": v for k, v in attrs.items()}
        if isinstance(value, list):
            node.update(_to_json(value))
        else:
            node["$"] = value
        # ARIN's JSON keeps one object for a single child element (not a one-item list).
        out[tag] = node
    return out


def whois_net_json(net: RegisteredNet, lab: LabData) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@xmlns": {
            "ns2": "https://www.arin.net/whoisrws/rdns/v1",
            "ns3": "https://www.arin.net/whoisrws/netref/v2",
            "$": WHOIS_NS,
        },
        "@copyrightNotice": COPYRIGHT,
        "@termsOfUse": TERMS,
    }
    doc.update(_to_json(_net_fields(net, lab)))
    return {"net": doc}


def _wants_json(req: Request, suffix: str | None) -> bool:
    if suffix == ".json":
        return True
    if suffix == ".xml":
        return False
    accept = (req.header("accept") or "").lower()
    return "application/json" in accept and "xml" not in accept.split("application/json")[0]


def handle_whois(req: Request, lab: LabData) -> Response:
    m = _REST_IP.match(req.path)
    net: RegisteredNet | None = None
    if m:
        try:
            ip = ipaddress.IPv4Address(m.group(1))
        except ValueError:
            return text_response(400, "Invalid IPv4 address.")
        net = lab.most_specific_net(ip)
    else:
        m = _REST_NET.match(req.path)
        if m:
            net = lab.net_by_handle(m.group(1))
    if m is None:
        return text_response(404, "Not Found")
    if net is None:
        return text_response(404, "No record found for the handle provided.")
    if _wants_json(req, m.group(2)):
        return json_response(200, whois_net_json(net, lab))
    return Response(200, whois_net_xml(net, lab), "application/xml")


# --- RDAP (RFC 9083) -----------------------------------------------------------------------------
def _notices() -> list[dict[str, Any]]:
    return [
        {
            "title": "Terms of Service",
            "description": ["By using the ARIN RDAP/Whois service, you are agreeing to the RDAP/Whois Terms of Use"],
            "links": [
                {
                    "value": "https://rdap.arin.net/registry",
                    "rel": "terms-of-service",
                    "type": "text/html",
                    "href": TERMS,
                }
            ],
        },
        {
            "title": "Simulated registry",
            "description": ["This is the recon harness lab's simulated internet: synthetic data, not ARIN."],
        },
    ]


def _conformance() -> list[str]:
    return ["nro_rdap_profile_0", "rdap_level_0", "cidr0", "arin_originas0"]


def rdap_error(status: int, title: str, description: str) -> Response:
    doc = {
        "rdapConformance": _conformance(),
        "notices": _notices(),
        "errorCode": status,
        "title": title,
        "description": [description],
    }
    return json_response(status, doc, RDAP_TYPE)


def rdap_ip_network(net: RegisteredNet, lab: LabData, queried: str) -> dict[str, Any]:
    _, rdap_type = _NET_TYPES.get(net.kind, ("Allocated", "ALLOCATED"))
    org = {
        "objectClassName": "entity",
        "handle": lab.org_handle,
        "vcardArray": [
            "vcard",
            [
                ["version", {}, "text", "4.0"],
                ["fn", {}, "text", lab.org_name],
                [
                    "adr",
                    {"label": f"12 Example Way\n{lab.city}\nVA\n20190\n{lab.country_name}"},
                    "text",
                    ["", "", "", "", "", "", ""],
                ],
                ["kind", {}, "text", "org"],
            ],
        ],
        "roles": ["registrant"],
        "links": [
            {
                "value": queried,
                "rel": "self",
                "type": RDAP_TYPE,
                "href": f"{RDAP_BASE}/entity/{lab.org_handle}",
            },
            {
                "value": queried,
                "rel": "alternate",
                "type": "application/xml",
                "href": f"{WHOIS_BASE}/org/{lab.org_handle}",
            },
        ],
        "events": [
            {"eventAction": "registration", "eventDate": REGISTRATION_DATE},
            {"eventAction": "last changed", "eventDate": UPDATE_DATE},
        ],
        "port43": "whois.arin.net",
    }
    links = [
        {
            "value": queried,
            "rel": "self",
            "type": RDAP_TYPE,
            "href": f"{RDAP_BASE}/ip/{net.network.network_address}",
        },
        {
            "value": queried,
            "rel": "alternate",
            "type": "application/xml",
            "href": f"{WHOIS_BASE}/net/{net.handle}",
        },
    ]
    if net.parent is not None:
        links.append({"value": queried, "rel": "up", "type": RDAP_TYPE, "href": f"{RDAP_BASE}/ip/{net.parent.network}"})
    doc: dict[str, Any] = {
        "rdapConformance": _conformance(),
        "notices": _notices(),
        "handle": net.handle,
        "startAddress": str(net.network.network_address),
        "endAddress": str(net.network.broadcast_address),
        "ipVersion": "v4",
        "name": net.name,
        "type": rdap_type,
        "country": lab.country_code,
        "parentHandle": net.parent.handle if net.parent is not None else None,
        "events": [
            {"eventAction": "registration", "eventDate": REGISTRATION_DATE},
            {"eventAction": "last changed", "eventDate": UPDATE_DATE},
        ],
        "links": links,
        "entities": [org],
        "port43": "whois.arin.net",
        "status": ["active"],
        "objectClassName": "ip network",
        "cidr0_cidrs": [{"v4prefix": str(net.network.network_address), "length": net.network.prefixlen}],
    }
    if lab.asn is not None:
        doc["arin_originas0_originautnums"] = [lab.asn]
    if doc["parentHandle"] is None:
        del doc["parentHandle"]
    return doc


def handle_rdap(req: Request, lab: LabData) -> Response:
    m = _RDAP_IP.match(req.path)
    if m is None:
        return rdap_error(404, "Not Found", f"No RDAP object class matches {req.path}")
    try:
        if m.group(2) is not None:
            target = ipaddress.IPv4Network(f"{m.group(1)}/{m.group(2)}", strict=False)
        else:
            target = ipaddress.IPv4Network(m.group(1))
    except ValueError:
        return rdap_error(400, "Bad Request", f"Invalid IP address or prefix: {req.path.rsplit('/ip/', 1)[-1]}")
    candidates = [n for n in lab.nets if target.subnet_of(n.network)]
    if not candidates:
        return rdap_error(404, "Not Found", f"No network found for {target}")
    net = max(candidates, key=lambda n: n.network.prefixlen)
    return json_response(200, rdap_ip_network(net, lab, f"{RDAP_BASE}{req.path}"), RDAP_TYPE)

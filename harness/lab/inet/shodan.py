"""api.shodan.io: the REST endpoints the shodan CLI and library (1.31.0) call, with their JSON shapes.

* ``GET /api-info`` and ``/account/profile``: any non-empty ``key`` is accepted; none gives 401
  ``{"error": ...}``, which makes ``shodan init`` fail like the real API does with a bad key.
* ``GET /shodan/host/{ip}``: host document (``ip``, ``ip_str``, ``hostnames``, ``ports``,
  ``data[]`` banners with ``port``/``transport``/``product``/``timestamp``, ``org``, ``isp``,
  ``asn``, ``country_code``...); 404 ``{"error": "No information available for that IP."}`` for
  addresses that are not live lab hosts.
* ``GET /shodan/host/search`` and ``/shodan/host/count``: filters ``net:``, ``ip:``, ``port:``,
  ``hostname:``, ``asn:``, ``org:`` and free words; ``facets=port,org:5``; ``page``; ``fields``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import shlex
from collections import Counter
from typing import Any

from harness.lab.inet.data import KnownHost, LabData, OpenPort, stable_hash
from harness.lab.inet.message import Request, Response, html_response, json_response

PAGE_SIZE = 100
_HOST_PATH = re.compile(r"^/shodan/host/([^/]+)$")
_FACETABLE = {"port", "org", "asn", "country", "product", "transport", "hostname", "domain", "isp"}


def _seen(host: KnownHost, port: OpenPort, now: dt.datetime) -> str:
    # Shodan timestamps are naive UTC with microseconds; spread them over the last day, stably.
    offset = dt.timedelta(seconds=abs(stable_hash(host.ip, port.port)) % 86400)
    return (now - offset).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _location(lab: LabData) -> dict[str, Any]:
    return {
        "city": lab.city,
        "region_code": "VA",
        "area_code": None,
        "longitude": -77.3411,
        "latitude": 38.9586,
        "country_code": lab.country_code,
        "country_name": lab.country_name,
    }


def _domains(host: KnownHost) -> list[str]:
    labels = host.name.split(".")
    return [".".join(labels[-2:])] if len(labels) >= 2 else []


def banner(host: KnownHost, port: OpenPort, lab: LabData, now: dt.datetime) -> dict[str, Any]:
    """One service banner as Shodan returns it in ``data[]`` and in search ``matches[]``."""
    module = {22: "ssh", 25: "smtp", 80: "http", 443: "https"}.get(port.port, "auto")
    doc: dict[str, Any] = {
        "hash": stable_hash(host.ip, port.port, port.banner),
        "ip": int(host.ip),
        "ip_str": str(host.ip),
        "port": port.port,
        "transport": port.transport,
        "product": port.product,
        "hostnames": [host.name],
        "domains": _domains(host),
        "org": lab.org_name,
        "isp": lab.org_name,
        "asn": lab.asn_str,
        "os": None,
        "timestamp": _seen(host, port, now),
        "location": _location(lab),
        "data": port.banner,
        "opts": {},
        "_shodan": {
            "id": f"{stable_hash(host.ip, port.port) & 0xFFFFFFFF:08x}-lab",
            "module": module,
            "crawler": "lab-crawler",
            "ptr": True,
            "options": {},
        },
    }
    if port.version:
        doc["version"] = port.version
    if module in {"http", "https"}:
        doc["http"] = {
            "status": 200,
            "title": f"{host.name.split('.')[0].title()} - {lab.org_name}",
            "server": port.product,
            "host": host.name,
            "location": "/",
        }
    return doc


def host_document(host: KnownHost, lab: LabData, now: dt.datetime) -> dict[str, Any]:
    data = [banner(host, p, lab, now) for p in host.ports]
    loc = _location(lab)
    return {
        "region_code": loc["region_code"],
        "ip": int(host.ip),
        "postal_code": None,
        "country_code": lab.country_code,
        "city": lab.city,
        "dma_code": None,
        "last_update": max(b["timestamp"] for b in data) if data else None,
        "latitude": loc["latitude"],
        "longitude": loc["longitude"],
        "tags": [],
        "area_code": None,
        "country_name": lab.country_name,
        "hostnames": [host.name],
        "org": lab.org_name,
        "data": data,
        "asn": lab.asn_str,
        "isp": lab.org_name,
        "country_code3": None,
        "domains": _domains(host),
        "ip_str": str(host.ip),
        "os": None,
        "ports": sorted(p.port for p in host.ports),
    }


class QueryError(ValueError):
    pass


def _matches_filter(name: str, value: str, host: KnownHost, port: OpenPort, lab: LabData) -> bool:
    values = [v for v in value.split(",") if v]
    if name == "net":
        try:
            return any(host.ip in ipaddress.IPv4Network(v, strict=False) for v in values)
        except ValueError as exc:
            raise QueryError(f"Invalid network: {value}") from exc
    if name == "ip":
        return str(host.ip) in values
    if name == "port":
        return str(port.port) in values
    if name == "hostname":
        return any(host.name == v.lower() or host.name.endswith("." + v.lower()) for v in values)
    if name == "asn":
        return lab.asn_str.lower() in (v.lower() for v in values)
    if name == "org":
        return lab.org_name.lower() == value.lower()
    if name == "product":
        return port.product.lower() == value.lower()
    raise QueryError(f"Unsupported filter: {name}")


def search(query: str, lab: LabData) -> list[tuple[KnownHost, OpenPort]]:
    """Every (host, port) banner matching all terms of ``query``."""
    try:
        terms = shlex.split(query)
    except ValueError as exc:
        raise QueryError("Invalid search query") from exc
    if not terms:
        raise QueryError("Empty search query")
    out = []
    for host in lab.hosts:
        for port in host.ports:
            ok = True
            for term in terms:
                name, sep, value = term.partition(":")
                if sep and name.isalpha():
                    ok = _matches_filter(name.lower(), value, host, port, lab)
                else:
                    text = f"{port.banner} {port.product} {host.name}".lower()
                    ok = term.lower() in text
                if not ok:
                    break
            if ok:
                out.append((host, port))
    return out


def _facets(spec: str, hits: list[tuple[KnownHost, OpenPort]], lab: LabData) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in spec.split(","):
        name, _, size_s = item.strip().partition(":")
        if not name:
            continue
        if name not in _FACETABLE:
            raise QueryError(f"Invalid facet: {name}")
        size = int(size_s) if size_s.isdigit() else 5
        values: Counter[Any] = Counter()
        for host, port in hits:
            values[
                {
                    "port": port.port,
                    "org": lab.org_name,
                    "isp": lab.org_name,
                    "asn": lab.asn_str.lower(),
                    "country": lab.country_code,
                    "product": port.product,
                    "transport": port.transport,
                    "hostname": host.name,
                    "domain": (_domains(host) or [""])[0],
                }[name]
            ] += 1
        out[name] = [{"count": c, "value": v} for v, c in values.most_common(size)]
    return out


def _error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def handle_api(req: Request, lab: LabData) -> Response:
    if not (req.param("key") or "").strip():
        return _error(401, "Invalid API key")  # what the CLI prints for a rejected key
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    path = req.path.rstrip("/") or "/"
    if path == "/api-info":
        return json_response(
            200,
            {
                "scan_credits": 100,
                "usage_limits": {"scan_credits": 100, "query_credits": 100, "monitored_ips": 16},
                "plan": "dev",
                "https": True,
                "unlocked": True,
                "query_credits": 100,
                "monitored_ips": 0,
                "unlocked_left": 100,
                "telnet": True,
            },
        )
    if path == "/account/profile":
        return json_response(
            200, {"member": True, "credits": 0, "display_name": None, "created": "2023-01-05T10:12:41.000000"}
        )
    if path in {"/shodan/host/search", "/shodan/host/count"}:
        query = req.param("query", "") or ""
        try:
            hits = search(query, lab)
            facets = _facets(req.param("facets", "") or "", hits, lab)
        except QueryError as exc:
            return _error(400, str(exc))
        doc: dict[str, Any] = {"total": len(hits)}
        if path.endswith("search"):
            page_s = req.param("page", "1") or "1"
            page = int(page_s) if page_s.isdigit() and int(page_s) > 0 else 1
            chosen = hits[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            matches = [banner(h, p, lab, now) for h, p in chosen]
            fields = [f.strip() for f in (req.param("fields", "") or "").split(",") if f.strip()]
            if fields:
                matches = [{k: v for k, v in m.items() if k in fields} for m in matches]
            doc["matches"] = matches
        else:
            doc["matches"] = []
        if facets:
            doc["facets"] = facets
        return json_response(200, doc)
    m = _HOST_PATH.match(path)
    if m:
        try:
            ip = ipaddress.IPv4Address(m.group(1))
        except ValueError:
            return _error(400, "Invalid IP")
        host = lab.host(ip)
        if host is None:
            return _error(404, "No information available for that IP.")
        return json_response(200, host_document(host, lab, now))
    return _error(404, "Not Found")


def handle_web(req: Request, lab: LabData) -> Response:
    """shodan.io / www.shodan.io: the search site's landing page (not used by the CLI)."""
    if req.path not in {"/", ""}:
        return html_response(
            404,
            "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>",
        )
    return html_response(
        200,
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"/><title>Shodan Search Engine</title>'
        "</head>"
        '<body><div class="container"><h1>Shodan</h1><form action="/search" method="get">'
        '<input type="text" name="query"/></form><p>The search engine for the Internet of Things</p></div>'
        "</body></html>",
    )

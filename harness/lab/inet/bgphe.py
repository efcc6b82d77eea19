"""bgp.he.net: the Hurricane Electric BGP Toolkit pages for the lab's ASN and prefixes.

``/AS{n}`` (title ``AS64500 <org> - bgp.he.net``, the tab bar, an ``AS Info`` block and the
``table_prefixes4`` prefixes table), ``/ip/{ip}``, ``/net/{prefix}``; an AS or address outside the
lab gets the site's "no data" page with status 404.
"""

from __future__ import annotations

import ipaddress
import re
from html import escape

from harness.lab.inet.data import LabData
from harness.lab.inet.message import Request, Response, html_response

_AS = re.compile(r"^/AS(\d+)$", re.IGNORECASE)
_IP = re.compile(r"^/ip/([0-9.]+)$")
_NET = re.compile(r"^/net/([0-9.]+/\d{1,2})$")
_TABS = (
    ("asinfo", "AS Info"),
    ("graph4", "Graph v4"),
    ("graph6", "Graph v6"),
    ("prefixes", "Prefixes v4"),
    ("prefixes6", "Prefixes v6"),
    ("peers", "Peers v4"),
    ("peers6", "Peers v6"),
    ("whois", "Whois"),
    ("irr", "IRR"),
)

_TABUP = ' class="tabup"'


def _page(title: str, tabs: tuple[tuple[str, str], ...], body: str) -> str:
    tab_items = "".join(
        f'<li id="tab_{tid}"{_TABUP if i == 0 else ""} onclick="return toggleTab(&#39;{tid}&#39;);">'
        f"{escape(label)}</li>"
        for i, (tid, label) in enumerate(tabs)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head>\n<meta charset="UTF-8" />\n'
        f"<title>{escape(title)} - bgp.he.net</title>\n"
        '<link rel="stylesheet" href="/css/bgp.css" type="text/css" />\n</head>\n<body>\n'
        '<div id="header"><a href="/"><img src="/images/helogo.gif" alt="Hurricane Electric" /></a>'
        '<form id="search" action="/search" method="get"><input type="text" name="search[search]" />'
        '<input type="hidden" name="commit" value="Search" /></form></div>\n'
        '<div id="content">\n'
        f'<div class="tabs"><ul id="tabs">{tab_items}</ul></div>\n'
        f"{body}\n</div>\n"
        '<div id="footer">Updated 28 Nov 2026 05:00 PST &copy; 2026 Hurricane Electric</div>\n'
        "</body></html>\n"
    )


def _no_data(what: str) -> Response:
    body = (
        f'<div id="asinfo" class="tabdata"><div class="asleft">{escape(what)} has no data: '
        "it is not announced and not registered.</div></div>"
    )
    return html_response(404, _page(what, (("asinfo", "AS Info"),), body))


def as_page(asn: int, lab: LabData) -> Response:
    if lab.asn is None or asn != lab.asn:
        return _no_data(f"AS{asn}")
    prefixes = [n for n in lab.nets if n.parent is None]
    rows = "".join(
        f'<tr><td class="nowrap"><a href="/net/{n.network}">{n.network}</a></td><td>{escape(lab.org_name)}</td></tr>\n'
        for n in prefixes
    )
    body = (
        '<div id="asinfo" class="tabdata">\n'
        f'<div class="asleft"><h1><a href="/AS{asn}">AS{asn}</a> {escape(lab.org_name)}</h1></div>\n'
        '<div class="asright">'
        f'<div>Company Website: <a href="http://{escape(lab.domains[0] if lab.domains else "")}">'
        f"{escape(lab.domains[0] if lab.domains else '')}</a></div>"
        f"<div>Country of Origin: {escape(lab.country_name)}</div>"
        f"<div>Prefixes Originated (all): {len(prefixes)}</div>"
        f"<div>Prefixes Originated (v4): {len(prefixes)}</div>"
        "<div>Prefixes Originated (v6): 0</div>"
        f"<div>Prefixes Announced (all): {len(prefixes)}</div>"
        "<div>BGP Peers Observed (all): 2</div></div>\n"
        "</div>\n"
        '<div id="prefixes" class="tabdata">\n'
        '<table id="table_prefixes4" class="w100p">\n<thead><tr><th>Prefix</th><th>Description</th></tr>'
        "</thead>\n"
        f"<tbody>\n{rows}</tbody></table>\n</div>\n"
        '<div id="whois" class="tabdata"><pre>\n'
        f"ASNumber:       {asn}\nASName:         {escape(lab.org_handle)}\nASHandle:       AS{asn}\n"
        f"OrgName:        {escape(lab.org_name)}\nOrgId:          {escape(lab.org_handle)}\nCountry:        "
        f"{lab.country_code}\n"
        "</pre></div>\n"
    )
    return html_response(200, _page(f"AS{asn} {lab.org_name}", _TABS, body))


def _origin_table(prefixes: list[str], lab: LabData) -> str:
    rows = "".join(
        f'<tr><td><a href="/AS{lab.asn}">AS{lab.asn}</a></td><td><a href="/net/{p}">{p}</a></td>'
        f"<td>{escape(lab.org_name)}</td></tr>\n"
        for p in prefixes
    )
    return (
        '<table class="w100p"><thead><tr><th>ASN</th><th>Prefix</th><th>Description</th></tr></thead>\n'
        f"<tbody>\n{rows}</tbody></table>"
    )


def handle(req: Request, lab: LabData) -> Response:
    path = req.path
    if path in {"", "/"}:
        body = '<div id="welcome" class="tabdata"><h1>Hurricane Electric BGP Toolkit</h1></div>'
        return html_response(200, _page("Hurricane Electric BGP Toolkit", (("welcome", "Welcome"),), body))
    m = _AS.match(path)
    if m:
        return as_page(int(m.group(1)), lab)
    m = _IP.match(path)
    if m:
        try:
            ip = ipaddress.IPv4Address(m.group(1))
        except ValueError:
            return _no_data(m.group(1))
        nets = [n for n in lab.nets if n.parent is None and ip in n.network]
        if not nets or lab.asn is None:
            return _no_data(str(ip))
        host = lab.host(ip)
        dns = (
            f'<div id="dns" class="tabdata"><table><tr><td>PTR</td><td>{escape(host.name)}</td></tr></table></div>'
            if host
            else ""
        )
        table = _origin_table([str(n.network) for n in nets], lab)
        body = f'<div id="ipinfo" class="tabdata"><h1>{ip}</h1>\n{table}</div>\n{dns}'
        return html_response(200, _page(str(ip), (("ipinfo", "IP Info"), ("dns", "DNS"), ("whois", "Whois")), body))
    m = _NET.match(path)
    if m:
        try:
            prefix = ipaddress.IPv4Network(m.group(1), strict=True)
        except ValueError:
            return _no_data(m.group(1))
        if lab.asn is None or not any(n.parent is None and n.network == prefix for n in lab.nets):
            return _no_data(str(prefix))
        body = f'<div id="netinfo" class="tabdata"><h1>{prefix}</h1>\n{_origin_table([str(prefix)], lab)}</div>'
        return html_response(
            200, _page(str(prefix), (("netinfo", "Prefix Info"), ("whois", "Whois"), ("irr", "IRR")), body)
        )
    return html_response(404, _page("Not Found", (("error", "Error"),), '<div class="tabdata">Page not found.</div>'))

"""dnsdumpster.com, api.dnsdumpster.com, www.bing.com and www.example.com.

Shaped after what theHarvester (laramies/theHarvester, ``theHarvester/discovery/``) requests and
how its ``parsers/myparser.py`` reads the answers:

* ``dnsdumpster.py``: ``GET https://dnsdumpster.com`` for the ``csrftoken`` cookie, then
  ``POST https://dnsdumpster.com`` with ``csrfmiddlewaretoken``, ``targetip`` and ``user=free``;
  host names are then regex-scraped from the result tables. Without a token the POST gets Django's
  403 "CSRF verification failed" page, as on the real site.
* ``search_dnsdumpster.py`` (newer releases): ``GET https://api.dnsdumpster.com/domain/{domain}``
  with ``X-API-Key``, reading ``a[].host``, ``a[].ips[].ip`` and ``ns[]``.
* ``bingsearch.py``: ``GET https://www.bing.com/search?q=%40"{domain}"&count=50&first=N`` (and the
  ``ip:{addr}`` virtual-host variant); host names are scraped from the result list (``<cite>``).

Only names of the lab's live hosts under a scope domain are listed; anything else gets the sites'
"no results" pages.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from html import escape
from urllib.parse import quote

from harness.lab.inet.data import KnownHost, LabData
from harness.lab.inet.message import Request, Response, html_response, json_response

# Per-process secret: tokens are checked, not stored.
_CSRF_SECRET = os.urandom(16)
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)


def _new_csrf_token() -> str:
    nonce = os.urandom(16).hex()
    mac = hmac.new(_CSRF_SECRET, nonce.encode(), hashlib.sha256).hexdigest()[:32]
    return nonce + mac


def _csrf_ok(token: str) -> bool:
    nonce, mac = token[:32], token[32:]
    good = hmac.new(_CSRF_SECRET, nonce.encode(), hashlib.sha256).hexdigest()[:32]
    return len(token) == 64 and hmac.compare_digest(mac, good)


def _dd_page(inner: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>DNSdumpster.com - dns recon and research, find and lookup dns records</title>\n"
        '</head>\n<body>\n<section id="intro"><div class="container">\n'
        "<h1>dns recon &amp; research, find &amp; lookup dns records</h1>\n"
        f"{inner}\n</div></section>\n</body>\n</html>\n"
    )


def _dd_form(token: str) -> str:
    return (
        '<form role="form" action="." method="post">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        '<input class="form-control" type="text" id="regularInput" name="targetip" '
        'placeholder="exampledomain.com">'
        '<input type="hidden" name="user" value="free">'
        '<button type="submit" class="btn btn-default">Search <span class="glyphicon '
        'glyphicon-chevron-right"></span></button>'
        "</form>"
    )


def _dd_host_row(host: KnownHost, lab: LabData) -> str:
    return (
        f'<tr><td class="col-md-4">{escape(host.name)}<br>'
        '<a class="external nounderline" data-toggle="modal" '
        f'href="https://api.hackertarget.com/httpheaders/?q=http://{escape(host.name)}" '
        'data-target="#myModal"><span class="glyphicon glyphicon-globe" data-toggle="tooltip" '
        'data-placement="top" title="Get HTTP Headers"></span></a></td>'
        f'<td class="col-md-3">{host.ip}<br><span style="font-size: 0.9em; color: #eee;">'
        f"{escape(host.name)}</span></td>"
        f'<td class="col-md-3"><span style="font-size: 0.9em; color: #eee;">{escape(lab.org_handle)}<br>'
        f"{escape(lab.country_name)}</span></td></tr>\n"
    )


def _dd_table(title: str, rows: str) -> str:
    return (
        "<p style=\"color: #ddd; font-family: 'Courier New', Courier, monospace; text-align: left;\">"
        f"{title}</p>\n"
        '<div class="table-responsive" style="text-align: left;">'
        '<table class="table" style="font-size: 1.1em; font-family: \'Courier New\', Courier, monospace;">\n'
        f"{rows}</table></div>\n"
    )


def _mx_hosts(hosts: list[KnownHost]) -> list[KnownHost]:
    return [h for h in hosts if h.name.split(".")[0] in {"mail", "mx", "smtp"}]


def handle_dnsdumpster(req: Request, lab: LabData) -> Response:
    if req.path not in {"", "/"}:
        return html_response(404, _dd_page("<h2>Not Found</h2>"))
    if req.method == "POST":
        form = req.form()
        token = (form.get("csrfmiddlewaretoken") or [""])[0]
        cookie = req.cookies().get("csrftoken")
        if not _csrf_ok(token) or (cookie is not None and cookie != token):
            # Django's CSRF failure page (status 403), as the real site answers a tokenless POST.
            return html_response(
                403,
                '<!DOCTYPE html><html lang="en"><head><title>403 Forbidden</title></head><body>'
                "<h1>Forbidden <span>(403)</span></h1><p>CSRF verification failed. Request aborted.</p>"
                "</body></html>",
            )
        target = (form.get("targetip") or [""])[0].strip().lower()
        scope = lab.domain_in_scope(target) if target else None
        hosts = lab.hosts_of_domain(target) if scope else []
        if not hosts:
            inner = f"<p>There was an error getting results. Check your query and try again: {escape(target)}</p>"
            return html_response(200, _dd_page(inner + _dd_form(_new_csrf_token())))
        mx = "".join(_dd_host_row(h, lab) for h in _mx_hosts(hosts))
        inner = (
            f'<p class="lead">Showing results for <span style="color: #ddd;">{escape(target)}</span></p>\n'
            + _dd_table("DNS Servers", "")
            + _dd_table("MX Records ** This is where email for the domain goes...", mx)
            + _dd_table("TXT Records ** Find more hosts in Sender Policy Framework (SPF) configurations", "")
            + _dd_table(
                "Host Records (A) ** this data may not be current as it uses a static database (updated monthly)",
                "".join(_dd_host_row(h, lab) for h in hosts),
            )
        )
        return html_response(200, _dd_page(inner))
    if req.method not in {"GET", "HEAD"}:
        return html_response(405, _dd_page("<h2>Method Not Allowed</h2>"))
    token = _new_csrf_token()
    cookie = f"csrftoken={token}; expires=Sat, 27 Nov 2027 00:00:00 GMT; Max-Age=31449600; Path=/; SameSite=Lax"
    return html_response(200, _dd_page(_dd_form(token)), (("Set-Cookie", cookie),))


def handle_dnsdumpster_api(req: Request, lab: LabData) -> Response:
    if not (req.header("x-api-key") or "").strip():
        return json_response(401, {"error": "Missing or invalid API key"})
    m = re.match(r"^/domain/([A-Za-z0-9.-]+)/?$", req.path)
    if m is None:
        return json_response(404, {"error": "Not found"})
    domain = m.group(1).lower()
    hosts = lab.hosts_of_domain(domain) if lab.domain_in_scope(domain) else []
    asn_range = str(next((n.network for n in lab.nets if n.parent is None), ""))

    def record(h: KnownHost) -> dict[str, object]:
        ip = {
            "ip": str(h.ip),
            "ptr": h.name,
            "asn": str(lab.asn or ""),
            "asn_name": lab.org_name,
            "asn_range": asn_range,
            "country": lab.country_name,
            "country_code": lab.country_code,
        }
        return {"host": h.name, "ips": [ip]}

    return json_response(
        200,
        {
            "a": [record(h) for h in hosts],
            "cname": [],
            "mx": [record(h) for h in _mx_hosts(hosts)],
            "ns": [],
            "txt": [],
            "total_a_recs": len(hosts),
        },
    )


def _bing_targets(q: str, lab: LabData) -> list[KnownHost]:
    m = re.search(r"\bip:([0-9.]+)", q)
    if m:
        try:
            ip = ipaddress.IPv4Address(m.group(1))
        except ValueError:
            return []
        return [h for h in lab.hosts if h.ip == ip]
    for candidate in _DOMAIN.findall(q):
        if lab.domain_in_scope(candidate):
            return lab.hosts_of_domain(candidate)
    return []


def handle_bing(req: Request, lab: LabData) -> Response:
    if req.path in {"", "/"}:
        return html_response(
            200,
            '<!DOCTYPE html><html lang="en"><head><title>Bing</title></head><body>'
            '<form action="/search" id="sb_form"><input id="sb_form_q" name="q" type="search"/></form>'
            "</body></html>",
        )
    if req.path != "/search":
        return html_response(404, "<!DOCTYPE html><html><head><title>404</title></head><body></body></html>")
    q = req.param("q", "") or ""
    first_s = req.param("first", "0") or "0"
    first = int(first_s) if first_s.isdigit() else 0
    # Bing pages are 1-based in "first"; theHarvester asks first=0, 50, 100...: everything fits page one.
    hosts = _bing_targets(q, lab) if first <= 1 else []
    items = []
    for i, h in enumerate(hosts):
        label = h.name.split(".")[0].title()
        items.append(
            f'<li class="b_algo" data-id iid="SERP.{5001 + i}"><div class="b_tpcn"><a class="tilk" '
            f'href="https://{escape(h.name)}/" h="ID=SERP,{5001 + i}.1">'
            f'<div class="tptxt"><div class="tptt">{escape(lab.org_name)}</div><div class="b_attribution" '
            f'tabindex="0"><cite>https://{escape(h.name)}</cite></div></div></a></div>'
            f'<h2><a href="https://{escape(h.name)}/" h="ID=SERP,{5001 + i}.2">{escape(label)} - '
            f"{escape(lab.org_name)}</a></h2>"
            f'<div class="b_caption"><p class="b_lineclamp2">{escape(label)} service of <strong>'
            f"{escape(h.name)}</strong>, "
            f"operated by {escape(lab.org_name)}.</p></div></li>"
        )
    if items:
        results = "".join(items)
        count = f'<span class="sb_count">About {len(items)} results</span>'
    else:
        results = f'<li class="b_no"><h1>There are no results for <strong>{escape(q)}</strong></h1></li>'
        count = ""
    html = (
        '<!DOCTYPE html><html dir="ltr" lang="en" xml:lang="en" xmlns="http://www.w3.org/1999/xhtml">'
        '<head><meta content="text/html; charset=utf-8" http-equiv="content-type" />'
        f"<title>{escape(q)} - Search</title></head><body>"
        '<header id="b_header"><form action="/search" id="sb_form"><input id="sb_form_q" name="q" '
        f'value="{escape(q)}"/></form></header>'
        f'<div id="b_content"><main aria-label="Search Results"><div id="b_tween">{count}</div>'
        f'<ol id="b_results">{results}</ol></main></div>'
        f'<footer id="b_footer"><a href="/search?q={quote(q)}&amp;first={first + 50}">Next</a></footer>'
        "</body></html>"
    )
    return html_response(200, html)


_EXAMPLE_PAGE = """<!doctype html>
<html>
<head>
    <title>Example Domain</title>
    <meta charset="utf-8" />
    <meta http-equiv="Content-type" content="text/html; charset=utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
</head>
<body>
<div>
    <h1>Example Domain</h1>
    <p>This domain is for use in illustrative examples in documents. You may use this
    domain in literature without prior coordination or asking for permission.</p>
    <p><a href="https://www.iana.org/domains/example">More information...</a></p>
</div>
</body>
</html>
"""


def handle_example(req: Request, lab: LabData) -> Response:
    """The benign negative control: the IANA example page on every path, like the real site."""
    return html_response(200, _EXAMPLE_PAGE)

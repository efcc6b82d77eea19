"""dnsdumpster.com, api.dnsdumpster.com, www.bing.com and www.example.com.

theHarvester cannot be installed on this machine (see shared/reference/telemetry.md), so these
tests request exactly what its upstream modules request (theHarvester/discovery/dnsdumpster.py,
search_dnsdumpster.py, bingsearch.py in laramies/theHarvester) and parse the answers the way its
parsers/myparser.py does: ``Parser.hostnames`` (genericClean, then the regex
``[a-zA-Z0-9.-]*\\.<domain>``) is reproduced below, and the page structure is checked with the
standard library's html.parser (BeautifulSoup is not available).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests

from harness.lab.config import load_lab_config

from .conftest import InetServer

CFG = load_lab_config()
DOMAIN = CFG.scope.domains[0]
LAB_HOSTS = {h.name for h in CFG.live_hosts if h.name.endswith("." + DOMAIN)}
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
pytestmark = pytest.mark.usefixtures("lab_resolve")


def harvester_hostnames(results: str, word: str) -> list[str]:
    """theHarvester's myparser.Parser.hostnames(), line for line."""
    results = (
        results.replace("<em>", "")
        .replace("<b>", "")
        .replace("</b>", "")
        .replace("</em>", "")
        .replace("%2f", "")
        .replace("%3a", "")
        .replace("<strong>", "")
        .replace("</strong>", "")
        .replace("<wbr>", "")
        .replace("</wbr>", "")
    )
    for e in ("<", ">", ":", "=", ";", "&", "%3A", "%3D", "%3C", "/", "\\"):
        results = results.replace(e, " ")
    found = re.compile(r"[a-zA-Z0-9.-]*\." + word).findall(results)
    return list(dict.fromkeys(found))


class _Collect(HTMLParser):
    def __init__(self, tag: str, cls: str | None = None) -> None:
        super().__init__()
        self.tag, self.cls = tag, cls
        self.items: list[str] = []
        self._in = 0
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name"):
            self.inputs[str(a["name"])] = a.get("value") or ""
        if tag == self.tag and (self.cls is None or self.cls in (a.get("class") or "").split()):
            self._in += 1
            self.items.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self.tag and self._in:
            self._in -= 1

    def handle_data(self, data: str) -> None:
        if self._in:
            self.items[-1] += data


def test_dnsdumpster_csrf_form_flow(inet: InetServer) -> None:
    s = requests.Session()  # keeps the csrftoken cookie, like theHarvester's aiohttp session
    s.headers["User-Agent"] = UA
    url = inet.url("dnsdumpster.com", "/")
    first = s.get(url, verify=str(inet.ca), timeout=10)
    assert first.status_code == 200
    # theHarvester: str(resp.cookies).split("csrftoken=")[1] up to ";"
    token = str(first.headers["Set-Cookie"]).split("csrftoken=")[1].split(";")[0]
    form = _Collect("form")
    form.feed(first.text)
    assert form.inputs["csrfmiddlewaretoken"] == token and "targetip" in form.inputs
    data = {"Cookie": f"csfrtoken={token}", "csrfmiddlewaretoken": token, "targetip": DOMAIN, "user": "free"}
    res = s.post(url, data=data, headers={"Referer": url}, verify=str(inet.ca), timeout=10)
    assert res.status_code == 200
    assert set(harvester_hostnames(res.text, DOMAIN)) == LAB_HOSTS
    cells = _Collect("td", "col-md-4")
    cells.feed(res.text)
    assert {c.strip() for c in cells.items} >= LAB_HOSTS
    rec = inet.wait_for(lambda r: r["kind"] == "http" and r["method"] == "POST" and r["host"] == "dnsdumpster.com")
    assert rec["status"] == 200 and rec["user_agent"] == UA


def test_dnsdumpster_rejects_post_without_token(inet: InetServer) -> None:
    r = requests.post(inet.url("dnsdumpster.com", "/"), data={"targetip": DOMAIN}, verify=str(inet.ca), timeout=10)
    assert r.status_code == 403 and "CSRF verification failed" in r.text
    assert harvester_hostnames(r.text, DOMAIN) == []


def test_dnsdumpster_api(inet: InetServer) -> None:
    url = inet.url("api.dnsdumpster.com", f"/domain/{DOMAIN}")
    assert requests.get(url, verify=str(inet.ca), timeout=10).status_code == 401
    r = requests.get(url, headers={"X-API-Key": "lab-secret-api-key"}, verify=str(inet.ca), timeout=10)
    data = r.json()
    # search_dnsdumpster.py: a[].host ending with the word, a[].ips[].ip
    hosts = {rec["host"] for rec in data["a"] if rec["host"].endswith(DOMAIN)}
    ips = {ip["ip"] for rec in data["a"] for ip in rec["ips"]}
    assert hosts == LAB_HOSTS and ips == {str(h.ip) for h in CFG.live_hosts}
    assert data["ns"] == []  # iterated by theHarvester: must exist
    assert "lab-secret-api-key" not in inet.log.read_text()


def test_bing_search_page(inet: InetServer) -> None:
    headers = {"Cookie": "SRCHHPGUSR=ADLT=DEMOTE&NRSLT=50", "Accept-Language": "en-us,en", "User-agent": UA}
    # bingsearch.py builds this URL by hand (unencoded quotes), first=0.
    url = inet.url("www.bing.com", f'/search?q=%40"{DOMAIN}"&count=50&first=0')
    r = requests.get(url, headers=headers, verify=str(inet.ca), timeout=10)
    assert r.status_code == 200
    assert set(harvester_hostnames(r.text, DOMAIN)) == LAB_HOSTS
    cites = _Collect("cite")
    cites.feed(r.text)
    assert {c.removeprefix("https://") for c in cites.items} == LAB_HOSTS
    algo = _Collect("li", "b_algo")
    algo.feed(r.text)
    assert len(algo.items) == len(LAB_HOSTS)
    # Later pages and out-of-scope domains: Bing's "no results" page.
    for q in (f'%40"{DOMAIN}"&count=50&first=50', '%40"example.org"&count=50&first=0'):
        r = requests.get(inet.url("www.bing.com", f"/search?q={q}"), headers=headers, verify=str(inet.ca), timeout=10)
        assert r.status_code == 200 and 'class="b_no"' in r.text
        assert harvester_hostnames(r.text, DOMAIN) == []
    rec = inet.wait_for(lambda r: r["kind"] == "http" and r["host"] == "www.bing.com")
    assert rec["path"] == "/search" and rec["sni"] == "www.bing.com" and rec["user_agent"] == UA


def test_example_negative_control(inet: InetServer) -> None:
    r = requests.get(inet.url("www.example.com", "/"), verify=str(inet.ca), timeout=10)
    assert r.status_code == 200 and "<title>Example Domain</title>" in r.text
    assert harvester_hostnames(r.text, DOMAIN) == []

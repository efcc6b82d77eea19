"""bgp.he.net pages, parsed with the standard library's html.parser (no BeautifulSoup here)."""

from __future__ import annotations

import ipaddress
from html.parser import HTMLParser

import pytest
import requests

from harness.lab.config import load_lab_config

from .conftest import InetServer

CFG = load_lab_config()
ASN = CFG.scope.asns[0]
pytestmark = pytest.mark.usefixtures("lab_resolve")


class _Page(HTMLParser):
    """Collects the title, the tab ids and the rows of every table by id."""

    def __init__(self) -> None:
        super().__init__()
        self.title = ""
        self.tabs: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._stack: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self._stack.append(tag)
        if tag == "li" and (a.get("id") or "").startswith("tab_"):
            self.tabs.append(str(a["id"])[4:])
        elif tag == "table":
            self._table = a.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1] == "title":
            self.title += data
        if self._cell is not None:
            self._cell.append(data)


def _page(inet: InetServer, path: str) -> tuple[int, _Page]:
    r = requests.get(inet.url("bgp.he.net", path), verify=str(inet.ca), timeout=10)
    assert r.headers["Content-Type"].startswith("text/html")
    p = _Page()
    p.feed(r.text)
    return r.status_code, p


def test_as_page_lists_lab_prefixes(inet: InetServer) -> None:
    status, page = _page(inet, f"/AS{ASN}")
    assert status == 200
    assert page.title.startswith(f"AS{ASN} ") and page.title.endswith(" - bgp.he.net")
    assert {"asinfo", "prefixes", "peers", "whois"} <= set(page.tabs)
    rows = page.tables["table_prefixes4"]
    assert rows[0] == ["Prefix", "Description"]
    prefixes = {ipaddress.IPv4Network(r[0]) for r in rows[1:]}
    assert prefixes == set(CFG.scope.ranges)
    assert any(CFG.sweep_range.subnet_of(p) for p in prefixes)


def test_ip_and_net_pages(inet: InetServer) -> None:
    status, page = _page(inet, "/ip/198.51.100.130")
    assert status == 200 and page.title == "198.51.100.130 - bgp.he.net"
    origin = next(iter(page.tables.values()))
    assert origin[1][0] == f"AS{ASN}" and ipaddress.IPv4Address("198.51.100.130") in ipaddress.IPv4Network(origin[1][1])
    status, page = _page(inet, f"/net/{CFG.scope.ranges[0]}")
    assert status == 200 and next(iter(page.tables.values()))[1][0] == f"AS{ASN}"


@pytest.mark.parametrize("path", ["/AS15169", "/ip/8.8.8.8", "/net/203.0.113.0/24"])
def test_unknown_is_404_no_data(inet: InetServer, path: str) -> None:
    r = requests.get(inet.url("bgp.he.net", path), verify=str(inet.ca), timeout=10)
    assert r.status_code == 404 and "has no data" in r.text

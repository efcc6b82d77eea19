"""Which handler answers which virtual host."""

from __future__ import annotations

from collections.abc import Callable

from harness.lab.inet import arin, bgphe, search_sites, shodan
from harness.lab.inet.data import LabData
from harness.lab.inet.message import Request, Response

Handler = Callable[[Request, LabData], Response]

HOST_HANDLERS: dict[str, Handler] = {
    "api.shodan.io": shodan.handle_api,
    "shodan.io": shodan.handle_web,
    "www.shodan.io": shodan.handle_web,
    "whois.arin.net": arin.handle_whois,
    "rdap.arin.net": arin.handle_rdap,
    "bgp.he.net": bgphe.handle,
    "dnsdumpster.com": search_sites.handle_dnsdumpster,
    "www.dnsdumpster.com": search_sites.handle_dnsdumpster,
    "api.dnsdumpster.com": search_sites.handle_dnsdumpster_api,
    "www.bing.com": search_sites.handle_bing,
    "bing.com": search_sites.handle_bing,
    "www.example.com": search_sites.handle_example,
    "example.com": search_sites.handle_example,
}

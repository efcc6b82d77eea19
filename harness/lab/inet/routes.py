"""The handlers of the simulated internet, by name: the lab config says which one answers which host
(``hosts = { "api.shodan.io" = "shodan-api", ... }`` in its ``[[services]]``)."""

from __future__ import annotations

from collections.abc import Callable

from harness.lab.inet import arin, bgphe, search_sites, shodan
from harness.lab.inet.data import LabData
from harness.lab.inet.message import Request, Response

Handler = Callable[[Request, LabData], Response]

HANDLERS: dict[str, Handler] = {
    "shodan-api": shodan.handle_api,
    "shodan-web": shodan.handle_web,
    "arin-whois": arin.handle_whois,
    "arin-rdap": arin.handle_rdap,
    "bgp-he": bgphe.handle,
    "dnsdumpster": search_sites.handle_dnsdumpster,
    "dnsdumpster-api": search_sites.handle_dnsdumpster_api,
    "bing": search_sites.handle_bing,
    "example": search_sites.handle_example,
}

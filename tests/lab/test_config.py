from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.lab.config import load_lab_config


def test_defaults_load_and_derive_addresses() -> None:
    c = load_lab_config()
    assert str(c.host_transit_ip) == "198.18.0.1" and str(c.lab_transit_ip) == "198.18.0.2"
    assert str(c.lab_uplink_ip) == "198.51.100.250" and str(c.inet_gateway_ip) == "198.51.100.249"
    assert "whois.arin.net" in c.all_hostnames()
    assert all(h.ip in c.sweep_range for h in c.live_hosts)


def test_invalid_toml_names_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "lab.toml"
    p.write_text("[lab]\nname = \n")
    with pytest.raises(ConfigError) as exc:
        load_lab_config(p)
    assert str(exc.value).startswith(f"{p}:2:")


def test_service_outside_scope_is_rejected(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("harness.lab").joinpath("default-lab.toml").read_text()
    p = tmp_path / "lab.toml"
    p.write_text(text.replace('ip = "198.51.100.10"', 'ip = "10.9.9.9"'))
    with pytest.raises(ConfigError, match=r"10\.9\.9\.9 is not inside scope\.ranges"):
        load_lab_config(p)


def test_the_config_names_the_handler_of_every_simulated_internet_host() -> None:
    """The hosts are listed once, in the lab config; the handlers by name in harness.lab.inet.routes."""
    from harness.lab.inet import arin, bgphe, search_sites, shodan
    from harness.lab.inet.routes import HANDLERS

    got = {h: HANDLERS[str(s.handler_of(h))] for s in load_lab_config().services for h in s.hosts}
    assert got == {
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


def test_service_hosts_as_a_list_have_no_handler_and_a_bad_value_is_an_error(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("harness.lab").joinpath("default-lab.toml").read_text()
    p = tmp_path / "lab.toml"
    p.write_text(text.replace('hosts = { "bgp.he.net" = "bgp-he" }', 'hosts = ["bgp.he.net"]'))
    bgp = next(s for s in load_lab_config(p).services if s.name == "bgp-he")
    assert bgp.hosts == ("bgp.he.net",) and bgp.handler_of("BGP.he.net") is None
    p.write_text(text.replace('hosts = { "bgp.he.net" = "bgp-he" }', 'hosts = "bgp.he.net"'))
    with pytest.raises(ConfigError, match=r"services\.bgp-he\.hosts must be a table"):
        load_lab_config(p)

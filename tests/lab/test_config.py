import pytest

from harness.errors import ConfigError
from harness.lab.config import load_lab_config


def test_defaults_load_and_derive_addresses():
    c = load_lab_config()
    assert str(c.host_transit_ip) == "198.18.0.1" and str(c.lab_transit_ip) == "198.18.0.2"
    assert str(c.lab_uplink_ip) == "198.51.100.250" and str(c.inet_gateway_ip) == "198.51.100.249"
    assert "whois.arin.net" in c.all_hostnames()
    assert all(h.ip in c.sweep_range for h in c.live_hosts)


def test_invalid_toml_names_line_and_column(tmp_path):
    p = tmp_path / "lab.toml"
    p.write_text("[lab]\nname = \n")
    with pytest.raises(ConfigError) as exc:
        load_lab_config(p)
    assert str(exc.value).startswith(f"{p}:2:")


def test_service_outside_scope_is_rejected(tmp_path):
    from importlib import resources

    text = resources.files("harness.lab").joinpath("default-lab.toml").read_text()
    p = tmp_path / "lab.toml"
    p.write_text(text.replace('ip = "198.51.100.10"', 'ip = "10.9.9.9"'))
    with pytest.raises(ConfigError, match=r"10\.9\.9\.9 is not inside scope\.ranges"):
        load_lab_config(p)

"""harness.execution.scope_file: --scope FILE for real hosts, with located errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from harness.errors import ConfigError, ScopeError
from harness.execution.scope_file import check_arguments, load_scope_file

DATA = Path(__file__).resolve().parents[1] / "data" / "scope"


def test_loads_the_lab_config_scope_format() -> None:
    scope = load_scope_file(DATA / "lab-hosts.toml")
    assert scope.ranges == (ipaddress.IPv4Network("198.51.100.0/24"),)
    assert scope.domains == ("recon.test", "example.test")
    assert scope.asns == (64500,)
    assert scope.service_hosts == ()  # a real host has no simulated services: only what is declared
    assert scope.domain_in_scope("www.recon.test") and not scope.domain_in_scope("recon.test.evil.example")


def test_the_default_lab_configs_scope_table_is_a_valid_scope_file(tmp_path: Path) -> None:
    from importlib import resources

    path = tmp_path / "lab.toml"
    path.write_text(resources.files("harness.lab").joinpath("default-lab.toml").read_text())
    assert load_scope_file(path).ranges == (ipaddress.IPv4Network("198.51.100.0/24"),)


@pytest.mark.parametrize(("text", "line", "column", "message"), [
    ("[scope]\nranges = [\"198.51.100.0/24\"\n", 3, 1, "invalid TOML"),
    ("[other]\nx = 1\n", 1, 1, "needs a [scope] table"),
    ("[scope]\ndomains = [\"a.test\"]\n", 1, 1, "scope.ranges is required"),
    ("[scope]\nranges = []\n", 2, 1, "must not be empty"),
    ("[scope]\nranges = \"198.51.100.0/24\"\n", 2, 1, "must be a list"),
    ("[scope]\nranges = [\"198.51.100.0/24\", \"198.51.100.7/24\"]\n", 2, 31, "not an IPv4 network"),
    ("[scope]\nranges = [\"0.0.0.0/0\"]\n", 2, 12, "is not a scope"),
    ("[scope]\nranges = [\"198.51.100.0/24\"]\ndomains = [\"ok.test\", \"bad domain\"]\n", 3, 24, "not a domain"),
    ("[scope]\nranges = [\"198.51.100.0/24\"]\nasns = [64500, -3]\n", 3, 16, "not an AS number"),
    ("[scope]\nranges = [\"198.51.100.0/24\"]\nrange = [\"10.0.0.0/8\"]\n", 3, 1, "unknown key 'range'"),
])
def test_malformed_scope_is_a_located_error(tmp_path: Path, text: str, line: int, column: int,
                                            message: str) -> None:
    path = tmp_path / "scope.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scope_file(path)
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:{line}:{column}: "), str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read scope file"):
        load_scope_file(tmp_path / "nope.toml")


def test_every_argument_value_is_checked() -> None:
    scope = load_scope_file(DATA / "lab-hosts.toml")
    check_arguments(scope, {"target_ip": "198.51.100.7", "domain": "recon.test", "output_file": "/tmp/x.xml",
                            "target_range": "198.51.100.128/28"}, "ssh://h")
    for args, why in [({"target_ip": "203.0.113.5"}, "address 203.0.113.5"),
                      ({"target_range": "198.51.0.0/16"}, "198.51.0.0/16"),
                      ({"domain": "example.com"}, "domain outside"),
                      ({"url": "https://api.shodan.io/x"}, "URL host api.shodan.io")]:
        with pytest.raises(ScopeError, match="ssh://h") as info:
            check_arguments(scope, args, "ssh://h")
        assert why in str(info.value)

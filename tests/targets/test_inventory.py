"""harness.targets.inventory: Ansible inventories read as ansible-inventory reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.targets.base import parse_target_url
from harness.targets.inventory_formats import expand_hosts, literal, load_inventory

DATA = Path(__file__).resolve().parents[1] / "data" / "inventory"
FIXTURES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".ini", ".yml"))


def test_fixtures_present() -> None:
    assert {"fleet.ini", "fleet.yml", "priority.ini", "order.ini"} <= set(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_same_as_ansible_inventory_list(name: str) -> None:
    expected = json.loads((DATA / f"{name}.list.json").read_text())
    expected["_meta"].pop("profile", None)
    assert load_inventory(DATA / name).to_ansible_list() == expected


def test_hosts_become_ssh_urls(tmp_path: Path) -> None:
    inv = load_inventory(DATA / "fleet.ini")
    canary = inv.hosts["web-canary.lab.example"]
    assert canary.target_url() == "ssh://webops@127.0.0.2:2222?identity_file=/keys/canary"
    db = parse_target_url(inv.hosts["db-a.lab.example"].target_url())
    assert (db.user, db.host, db.port, db.options) == ("root", "db-a.lab.example", 22,
                                                       {"identity_file": "/keys/db key"})
    tofu = tmp_path / "tofu.ini"
    tofu.write_text("h ansible_host_key_checking=False ansible_ssh_private_key_file=/k\n")
    assert load_inventory(tofu).hosts["h"].target_url() == "ssh://h?identity_file=/k&accept_unknown_host_key=true"
    ipv6 = load_inventory(DATA / "order.ini").hosts["edge01"]
    assert parse_target_url(ipv6.target_url()).host == "::1"


def test_atomic_args_from_group_and_host_vars() -> None:
    inv = load_inventory(DATA / "fleet.ini")
    assert inv.hosts["web01.lab.example"].atomic_args() == {
        "target_ip": "198.51.100.10", "domain": "recon.test", "target_range": "198.51.100.0/24"}
    assert inv.hosts["db-x.lab.example"].atomic_args()["domain"] == "db.recon.test"
    order = load_inventory(DATA / "order.ini")
    assert order.hosts["node9"].atomic_args() == {"domain": "site.recon.test", "target_ip": "198.51.100.21"}


def test_group_hosts_include_children() -> None:
    inv = load_inventory(DATA / "fleet.yml")
    assert [h.name for h in inv.group_hosts("linux")] == [
        "web01.lab.example", "web03.lab.example", "web05.lab.example", "web-canary.lab.example",
        "db-a.lab.example", "db-b.lab.example", "db-x.lab.example"]
    assert [h.name for h in inv.group_hosts("hardened")] == ["db-x.lab.example", "web03.lab.example"]
    assert len(inv.group_hosts("all")) == len(inv.hosts)
    with pytest.raises(ConfigError, match=r"no group 'nope'.*linux"):
        inv.group_hosts("nope")


MALFORMED = {
    "bad-section.ini": (3, 1, "invalid section header"),
    "bad-hostvar.ini": (2, 7, "expected key=value"),
    "undefined-child.ini": (2, 1, "refers to group 'web'"),
    "undefined-vars.ini": (1, 1, "[web:vars] refers to group 'web'"),
    "bad-range.ini": (2, 1, "same width"),
    "bad-quote.ini": (2, 1, "No closing quotation"),
    "hosts-list.yml": (6, 14, "web.hosts must be a mapping"),
    "bad-syntax.yml": (5, 1, "invalid YAML"),
    "unknown-type.ini": (3, 1, "unknown type 'hosts2'"),
}


def test_every_malformed_fixture_is_covered() -> None:
    assert sorted(MALFORMED) == sorted(p.name for p in (DATA / "malformed").iterdir())


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_is_a_located_error(name: str) -> None:
    line, column, text = MALFORMED[name]
    path = DATA / "malformed" / name
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    err = info.value
    assert err.location is not None and (err.location.path, err.location.line, err.location.column) == (
        str(path), line, column), str(err)
    assert text in err.message
    assert str(err).startswith(f"{path}:{line}:{column}: ")


@pytest.mark.parametrize(("text", "message"), [
    ("all:\n  hostz:\n    a:\n", "unknown key 'hostz'"),
    ("all:\n  hosts:\n    12:\n", "keys must be strings"),
    ("all:\n  children:\n    g:\n      vars:\n        ansible_group_priority: high\n", "must be an integer"),
    ("plugin: aws_ec2\n", "plugin configuration"),
    ("", "empty inventory"),
])
def test_yaml_structure_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_inventory(path)


def test_bad_port_and_arg_types_are_errors_naming_the_host(tmp_path: Path) -> None:
    path = tmp_path / "inv.ini"
    path.write_text("[g]\nh1 ansible_port=99999\nh2 atomic_arg_target_ip=[1,2]\n")
    inv = load_inventory(path)
    with pytest.raises(ConfigError, match="h1: ansible_port must be 1-65535") as info:
        inv.hosts["h1"].target_url()
    assert str(info.value).startswith(f"{path}:2:1:")
    with pytest.raises(ConfigError, match="h2: atomic_arg_target_ip must be a string or number"):
        inv.hosts["h2"].atomic_args()


def test_group_cycle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "inv.ini"
    path.write_text("[a:children]\nb\n[b:children]\na\n")
    with pytest.raises(ConfigError, match="cycle") as info:
        load_inventory(path)
    assert info.value.location is not None and info.value.location.line == 4


def test_unreadable_inventory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read inventory"):
        load_inventory(tmp_path / "missing.ini")


@pytest.mark.parametrize(("pattern", "hosts", "port"), [
    ("web[01:03]", ["web01", "web02", "web03"], None),
    ("web[1:3]:2222", ["web1", "web2", "web3"], 2222),
    ("db-[a:c].x", ["db-a.x", "db-b.x", "db-c.x"], None),
    ("n[0:6:3]-[a:b]", ["n0-a", "n0-b", "n3-a", "n3-b", "n6-a", "n6-b"], None),
    ("n[:2]", ["n0", "n1", "n2"], None),
    ("plain.example", ["plain.example"], None),
])
def test_host_ranges(pattern: str, hosts: list[str], port: int | None) -> None:
    from harness.errors import SourceLocation

    assert expand_hosts(pattern, SourceLocation("x")) == (hosts, port)


def test_literal_values_as_ansible() -> None:
    assert literal("7") == 7
    assert literal("True") is True
    assert literal("'0042'") == "0042"
    assert literal("0042") == "0042"
    assert literal("22,443") == [22, 443]
    assert literal("two words # c") == "two words # c"

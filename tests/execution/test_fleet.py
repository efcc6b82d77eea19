"""harness.execution.fleet: the run's targets, their arguments and scopes, refused before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError, HarnessError
from harness.execution.fleet import resolve_targets
from harness.execution.session import open_session

DATA = Path(__file__).resolve().parents[1] / "data"
INVENTORY = str(DATA / "inventory" / "fleet.ini")
SCOPE = str(DATA / "scope" / "lab-hosts.toml")


def test_default_is_the_embedded_lab() -> None:
    (spec,) = resolve_targets()
    assert (spec.label, spec.url, spec.scope) == ("netns://rah", "netns://rah", None)


def test_repeated_targets_keep_order_and_appear_once() -> None:
    specs = resolve_targets(["netns://rah", "vagrant://default", "netns://rah"])
    assert [s.label for s in specs] == ["netns://rah", "vagrant://default"]


def test_inventory_group_hosts_with_their_urls_args_and_scope() -> None:
    specs = resolve_targets(inventory=INVENTORY, groups=["web"], scope_file=SCOPE)
    assert [s.label for s in specs] == ["ssh://web01.lab.example", "ssh://web02.lab.example",
                                       "ssh://web03.lab.example", "ssh://web-canary.lab.example"]
    canary = specs[-1]
    assert canary.url == "ssh://webops@127.0.0.2:2222?identity_file=/keys/canary"
    assert canary.args["domain"] == "recon.test"
    assert canary.scope is not None and [str(r) for r in canary.scope.ranges] == ["198.51.100.0/24"]
    # The command line applies to every target, over the inventory's values.
    assert canary.arguments({"domain": "example.test"})["domain"] == "example.test"
    assert canary.arguments()["target_ip"] == "198.51.100.10"


def test_targets_and_inventory_together() -> None:
    specs = resolve_targets(["netns://rah"], inventory=INVENTORY, groups=["db"], scope_file=SCOPE)
    assert [s.label for s in specs][:2] == ["netns://rah", "ssh://db-a.lab.example"]
    assert specs[0].scope is None  # a lab keeps its own scope; --scope is for real hosts
    assert len(resolve_targets(inventory=INVENTORY, scope_file=SCOPE)) == 9  # no group: every host


def test_a_real_host_without_a_declared_scope_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"ssh://web01.lab.example is a real host.*--scope FILE"):
        resolve_targets(inventory=INVENTORY, groups=["web"])
    with pytest.raises(ConfigError, match=r"ssh://root@h is a real host"):
        resolve_targets(["ssh://root@h"])


def test_arguments_outside_a_targets_scope_are_refused(tmp_path: Path) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text("[g]\nok\nbad atomic_arg_target_ip=203.0.113.9\n")
    with pytest.raises(ConfigError, match=r"ssh://bad leave its scope: address 203.0.113.9"):
        resolve_targets(inventory=str(inv), scope_file=SCOPE)
    with pytest.raises(ConfigError, match=r"ssh://web01.lab.example leave its scope: .*evil.example"):
        resolve_targets(inventory=INVENTORY, groups=["web"], scope_file=SCOPE, cli_args={"domain": "evil.example"})
    # A lab target's arguments are checked against the lab's scope.
    with pytest.raises(ConfigError, match=r"netns://rah leave its scope: address 192.0.2.1"):
        resolve_targets(["netns://rah"], cli_args={"target_ip": "192.0.2.1"})


def test_bad_input_is_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="--target-group needs --inventory"):
        resolve_targets(groups=["web"])
    with pytest.raises(ConfigError, match="no group 'nope'"):
        resolve_targets(inventory=INVENTORY, groups=["nope"], scope_file=SCOPE)
    with pytest.raises(HarnessError, match="needs a scheme"):
        resolve_targets(["lab-host"])


def test_open_session_refuses_a_real_host_without_scope() -> None:
    # Nothing is opened: the refusal comes before any connection (port 1 would refuse it anyway).
    with pytest.raises(ConfigError, match="real host, not a lab"), open_session("ssh://root@127.0.0.1:1"):
        pass

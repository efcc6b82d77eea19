from typing import Any

import pytest

from harness.errors import ScopeError
from harness.execution.scope import Scope
from harness.lab.config import load_lab_config


@pytest.fixture
def scope() -> Any:
    return Scope.from_lab(load_lab_config())


def test_lab_commands_are_in_scope(scope: Any) -> None:
    assert scope.violations("nmap -sn 198.51.100.128/28 -oX /tmp/x.xml") == []
    assert scope.violations("curl https://whois.arin.net/rest/ip/198.51.100.130 -o /tmp/a") == []
    assert scope.violations("curl -sS https://bgp.he.net/AS64500") == []
    assert scope.violations("theHarvester -d example.test -b dnsdumpster,bing", {"domain": "example.test"}) == []


@pytest.mark.parametrize(
    ("command", "args", "reason"),
    [
        ("nmap -sn 10.0.0.0/24", {}, "address 10.0.0.0/24 is outside"),
        ("nmap -sn 198.51.100.0/23", {}, "198.51.100.0/23 is outside"),  # wider than the lab range
        ("shodan host 8.8.8.8", {}, "8.8.8.8"),
        ("curl https://whois.arin.net/rest/ip/192.0.2.10", {}, "192.0.2.10"),
        ("curl https://evil.example.org/x", {}, "URL host evil.example.org"),
        ("curl https://bgp.he.net/AS15169", {}, "AS15169 is outside"),
        ("theHarvester -d victim.com -b bing", {"domain": "victim.com"}, "domain=victim.com"),
    ],
)
def test_out_of_scope_targets_are_refused(scope: Any, command: Any, args: Any, reason: Any) -> None:
    with pytest.raises(ScopeError, match="refused") as exc:
        scope.check(command, args)
    assert reason in str(exc.value)


def test_paths_and_flags_are_not_mistaken_for_targets(scope: Any) -> None:
    cmd = "rm -f /tmp/atomic-arin.json /tmp/atomic-rdap.json"
    assert scope.violations(cmd, {"output": "/tmp/atomic-arin.json"}) == []

"""The model: rendering commands, finding tests, and the exact semantics of a signal's match spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.atomics.loader import find, load
from harness.atomics.model import FieldCondition, Match
from harness.errors import ConfigError


def test_render_uses_defaults_and_overrides(technique_path: Path) -> None:
    technique, _ = load(technique_path)
    nmap = find(technique, "T1590.005-3")
    assert nmap.render("nmap -sn #{target_range}") == "nmap -sn 198.51.100.128/28"
    assert nmap.render("nmap -sn #{target_range}", {"target_range": "198.51.100.0/29"}) == "nmap -sn 198.51.100.0/29"


def test_render_refuses_unknown_arguments_and_bad_numbers(technique_path: Path) -> None:
    technique, _ = load(technique_path)
    bgp = technique.find("5")
    with pytest.raises(ConfigError, match="unknown input argument"):
        bgp.render("x", {"target": "1"})
    with pytest.raises(ConfigError, match="must be an integer"):
        bgp.render("AS#{asn}", {"asn": "64500; rm -rf /"})
    assert bgp.render("AS#{asn}", {"asn": "64501"}) == "AS64501"
    with pytest.raises(ConfigError, match="undeclared input argument"):
        bgp.render("#{nope}")


def test_find_by_id_position_and_guid(technique_path: Path) -> None:
    technique, _ = load(technique_path)
    guid = technique.atomic_tests[3].guid
    assert find(technique, "T1590.005-4") is find(technique, "4") is find(technique, guid.upper())
    with pytest.raises(ConfigError, match=r"no atomic test 'T1590\.005-9'"):
        find(technique, "T1590.005-9")


# --- match semantics (atomics/README.md, "Match spec") ------------------------------------------


def _line(category: str, **event: Any) -> dict[str, Any]:
    return {"logsource": {"product": "linux", "service": None, "category": category}, "event": event}


def _cond(key: str, *values: str) -> FieldCondition:
    field, *mods = key.split("|")
    return FieldCondition(field, tuple(mods), values)


@pytest.mark.parametrize(
    ("key", "values", "field_value", "expected"),
    [
        ("Image", ("/usr/bin/NMAP",), "/usr/bin/nmap", True),  # equality is case-insensitive
        ("Image", ("/usr/bin/nmap",), "/usr/bin/nmap2", False),
        ("CommandLine|contains", (" -SN ",), "nmap -sn 198.51.100.128/28", True),
        ("Image|startswith", ("/usr/",), "/usr/bin/curl", True),
        ("Image|endswith", ("/curl",), "/usr/bin/curl", True),
        ("Image|endswith", ("/curl",), "/usr/bin/curly", False),
        ("Image|endswith", ("/wget", "/curl"), "/usr/bin/curl", True),  # a list is any-of
        ("CommandLine|contains|all", ("-sn", "-oX"), "nmap -sn x -oX f", True),
        ("CommandLine|contains|all", ("-sn", "-oN"), "nmap -sn x -oX f", False),
        ("cs-username|re", ("^[^-]",), "alice", True),
        ("cs-username|re", ("^[^-]",), "-", False),
        ("cs-username|re", ("^ALICE$",), "alice", False),  # re is case-sensitive
        ("dst_ip|cidr", ("198.51.100.128/28",), "198.51.100.140", True),
        ("dst_ip|cidr", ("198.51.100.128/28",), "198.51.100.144", False),
        ("dst_ip|cidr", ("198.51.100.128/28",), "not-an-ip", False),
        ("DestinationPort", ("443",), 443, True),  # numbers compare by their text
        ("DestinationPort", ("443",), "443", True),
        ("Initiated", ("true",), True, True),  # booleans are "true"/"false"
        ("dst_port", ("443", "80"), [22, 80], True),  # a list-valued field: any element
    ],
)
def test_condition_semantics(key: str, values: tuple[str, ...], field_value: Any, expected: bool) -> None:
    field = key.split("|")[0]
    assert _cond(key, *values).holds({field: field_value}) is expected


def test_missing_or_null_field_never_matches() -> None:
    assert _cond("Image|contains", "").holds({}) is False
    assert _cond("Image|contains", "").holds({"Image": None}) is False


def test_placeholders_take_the_run_arguments() -> None:
    cond = _cond("CommandLine|contains", "bgp.he.net/AS#{asn}")
    assert cond.holds({"CommandLine": "curl https://bgp.he.net/AS64501"}, {"asn": "64501"})
    assert not cond.holds({"CommandLine": "curl https://bgp.he.net/AS64500"}, {"asn": "64501"})


def test_logsource_keys_must_all_equal() -> None:
    match = Match({"product": "linux", "category": "process_creation"}, (_cond("Image|endswith", "/nmap"),))
    assert match.matches(_line("process_creation", Image="/usr/bin/nmap"))
    assert not match.matches(_line("file_event", Image="/usr/bin/nmap"))
    assert not match.matches({"logsource": {"category": "process_creation"}, "event": {"Image": "/usr/bin/nmap"}})
    assert not match.matches({"event": {"Image": "/usr/bin/nmap"}})  # no logsource at all


def test_shipped_signals_match_recording_shaped_events(technique_path: Path) -> None:
    # Events shaped like the recorded lab run (sysmon-linux-lab-2026-11-28): Sysmon EID 1/3/11,
    # a dnsmasq query and an auditd EXECVE, as the Sigma view presents them.
    technique, signals = load(technique_path)
    by_id = {s.id: s for e in signals.expectations.values() for s in e.signals}
    args = {t.id: t.arguments() for t in technique.atomic_tests}
    shodan = {
        "logsource": {"product": "linux", "category": "process_creation"},
        "event": {
            "Image": "/usr/bin/python3.11",
            "CommandLine": "/opt/labrec/labvenv/bin/python3 /opt/labrec/labvenv/bin/shodan host 198.51.100.130",
        },
    }
    assert by_id["shodan-host-process"].match.matches(shodan, args["T1590.005-1"])
    assert not by_id["shodan-search-process"].match.matches(shodan, args["T1590.005-1"])
    execve = {
        "logsource": {"product": "linux", "service": "auditd"},
        "event": {"type": "EXECVE", "a0": "nmap", "a1": "-sn", "a2": "198.51.100.128/28"},
    }
    assert by_id["nmap-execve"].match.matches(execve, args["T1590.005-3"])
    # The view names the destination from the resolver's answer (raw Sysmon event 3 has "-").
    connect = _line(
        "network_connection", Image="/usr/bin/curl", Initiated="true", DestinationPort="443",
        DestinationHostname="bgp.he.net",
    )
    assert by_id["bgp-https-connection"].match.matches(connect, args["T1590.005-5"])
    other = _line(
        "network_connection", Image="/usr/bin/curl", Initiated="true", DestinationPort="443",
        DestinationHostname="www.example.com",
    )
    assert not by_id["bgp-https-connection"].match.matches(other, args["T1590.005-5"])
    created = _line("file_event", Image="/usr/bin/curl", TargetFilename="/tmp/atomic-bgp.html")
    assert by_id["bgp-output-file"].match.matches(created, args["T1590.005-5"])
    query = {"logsource": {"category": "dns"}, "event": {"query": "api.shodan.io", "record_type": "A"}}
    assert by_id["shodan-dns-query"].match.matches(query, args["T1590.005-1"])
    # The recording's negative control (curl https://www.example.com/) is not an ARIN or bgp.he.net lookup.
    benign = _line("process_creation", Image="/usr/bin/curl", CommandLine="curl -s https://www.example.com/")
    for sid in ("arin-curl-process", "rdap-curl-process", "bgp-curl-process"):
        assert not by_id[sid].match.matches(benign, args[f"T1590.005-{2 if 'bgp' not in sid else 5}"])

"""The signals sidecar: the shipped file loads and follows the seed/errata; each rule fails when broken."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.atomics.loader import load, load_signals, load_technique
from harness.atomics.model import SIGNAL_SOURCES, TechniqueSignals
from harness.errors import ErrorCollection

SIGMA = {
    "shodan": "e97b11ad-ec66-483b-9455-a6712bf5bccd",
    "curl_registry": "82ab9ae5-c94b-4e27-9d3c-b0922e62ba18",
    "nmap": "5af161fc-5087-4f30-9c93-315f7d8b18ad",
    "harvester": "e14fffc9-a774-4ed0-aac8-57173ec18b53",
    "bgp": "8b02d825-e160-4ff3-929f-5c103c82d93c",
    "auditd": "96107731-e2ba-4073-a578-b1ba2afc2bb8",
    "net": "457cf8ab-1a45-4b4c-90e5-651b463083c6",
    "dns": "7efe8710-8d79-4cb8-aefd-599de3c9d2c4",
    "proxy": "71c4d0ab-336f-40eb-a75f-0ee17de84084",
    "firewall": "71dad9dc-56e7-4e78-b117-1e239759a067",
    "file": "323173c2-0657-4161-99f7-537d32150b33",
}
KQL = "detections/kql/T1590.005-ip-recon.kql"


@pytest.fixture
def shipped(technique_path: Path) -> TechniqueSignals:
    return load(technique_path)[1]


def _by_test(signals: TechniqueSignals) -> dict[str, dict[str, Any]]:
    return {e.atomic_id: {s.id: s for s in e.signals} for e in signals.expectations.values()}


def test_every_test_declares_signals_and_ids_are_unique(shipped: TechniqueSignals) -> None:
    assert sorted(e.atomic_id for e in shipped.expectations.values()) == [f"T1590.005-{i}" for i in range(1, 6)]
    ids = [s.id for e in shipped.expectations.values() for s in e.signals]
    assert len(ids) == len(set(ids))
    for e in shipped.expectations.values():
        for s in e.signals:
            assert s.source in SIGNAL_SOURCES and s.sensor == s.source, s.id


def test_shodan_key_is_the_only_secret(shipped: TechniqueSignals) -> None:
    secrets = {e.atomic_id: e.secrets for e in shipped.expectations.values()}
    assert secrets == {"T1590.005-1": ("api_key",), **{f"T1590.005-{i}": () for i in range(2, 6)}}


def test_signals_follow_the_seed_page(shipped: TechniqueSignals) -> None:
    t = _by_test(shipped)
    # Test 1: DNS for shodan, HTTPS to 443, auditd EXECVE, proxy entry with cs-username when authenticated.
    assert SIGMA["dns"] in t["T1590.005-1"]["shodan-dns-query"].detections.sigma
    assert SIGMA["net"] in t["T1590.005-1"]["shodan-https-connection"].detections.sigma
    assert SIGMA["auditd"] in t["T1590.005-1"]["shodan-execve"].detections.sigma
    user = t["T1590.005-1"]["shodan-proxy-user"]
    assert user.modes == ("explicit",) and any(c.field == "cs-username" for c in user.match.conditions)
    # Test 2: the URI path /rest/ip/<ip> is asserted where it is visible.
    rest = t["T1590.005-2"]["arin-rest-request"]
    assert any("/rest/ip/#{target_ip}" in v for c in rest.match.conditions for v in c.values)
    # Test 3: process with -sn and the range, file created, ICMP in the firewall log.
    assert SIGMA["nmap"] in t["T1590.005-3"]["nmap-process"].detections.sigma
    assert SIGMA["file"] in t["T1590.005-3"]["nmap-output-file"].detections.sigma
    assert t["T1590.005-3"]["nmap-icmp-sweep"].source == "firewall"
    assert SIGMA["firewall"] in t["T1590.005-3"]["nmap-icmp-sweep"].detections.sigma
    # Test 4: process with -d/-b, DNS for dnsdumpster, files .xml/.json.
    assert SIGMA["harvester"] in t["T1590.005-4"]["harvester-process"].detections.sigma
    assert t["T1590.005-4"]["harvester-output-files"].match.min_count == 2
    # Test 5: /AS<n> in the request path.
    assert any("/AS#{asn}" in v for c in t["T1590.005-5"]["bgp-as-request"].match.conditions for v in c.values)


def test_signals_follow_the_errata(shipped: TechniqueSignals) -> None:
    t = _by_test(shipped)
    every = [s for e in shipped.expectations.values() for s in e.signals]
    # Errata 3: no Sysmon event 22 on Linux: DNS signals come from the resolver log.
    dns = [s for s in every if s.match.logsource.get("category") in ("dns", "dns_query")]
    assert dns and all(s.source == "dns" and s.match.logsource["category"] == "dns" for s in dns)
    # Errata 2: nmap -sn also sends TCP probes and PTR lookups; they are declared, not denied.
    assert {"nmap-tcp-probes", "nmap-ptr-queries"} <= set(t["T1590.005-3"])
    # Errata 4: Sysmon logs no ICMP: the sweep's packets are a firewall signal, never a Sysmon one.
    assert not [s for s in t["T1590.005-3"].values() if s.source == "sysmon" and "network" in str(s.match.logsource)]
    # Errata 6: pip install is prerequisite telemetry, not the test's.
    assert not [s for s in every if "pip" in s.id or any("pip" in v for c in s.match.conditions for v in c.values)]


def test_kql_expectations_name_the_query_and_a_branch(shipped: TechniqueSignals) -> None:
    branches = {
        k.branch for e in shipped.expectations.values() for s in e.signals for k in s.detections.kql if k.query == KQL
    }
    assert branches == {"EndpointIPIntelLookup", "OSINTToolOnEndpoint"}
    for e in shipped.expectations.values():
        for s in e.signals:
            for k in s.detections.kql:
                # The seed's KQL covers only process and network signals.
                category = s.match.logsource.get("category")
                assert category in ("process_creation", "network_connection"), s.id
                assert k.branch == (
                    "OSINTToolOnEndpoint" if category == "process_creation" else "EndpointIPIntelLookup"
                )


def test_signals_that_need_the_proxy_path_say_their_mode(shipped: TechniqueSignals) -> None:
    for e in shipped.expectations.values():
        for s in e.signals:
            if s.match.logsource.get("category") == "network_connection":
                # In explicit mode the client connects to the proxy, not to the service on 443.
                assert s.modes == ("transparent",), s.id
            if any(c.field == "cs-username" for c in s.match.conditions):
                assert s.modes == ("explicit",), s.id


def test_signals_on_resolver_names_declare_the_resolver(shipped: TechniqueSignals) -> None:
    """DestinationHostname of a connection is filled from the resolver's answers (the views): a signal
    matching on it cannot be judged where the resolver log is missing, and must say so."""
    offenders = [s.id for e in shipped.expectations.values() for s in e.signals
                 if any(c.field == "DestinationHostname" for c in s.match.conditions)
                 and s.sensor != "dns" and "dns" not in s.enriched_by]
    assert offenders == []


def test_shipped_signals_validate_against_the_json_schema(signals_path: Path, repo_root: Path) -> None:
    schema = json.loads((repo_root / "harness" / "atomics" / "signals.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    data = yaml.load(signals_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []


# --- every sidecar rule fails when broken -------------------------------------------------------

G1 = "a0b03b44-76ac-444c-90fc-c5900cabd1bb"
G3 = "f058056a-0ae3-4f31-879c-15f3969a3db9"
Mutation = Callable[[dict[str, Any]], None]


def _sig(d: dict[str, Any], guid: str = G1, index: int = 0) -> dict[str, Any]:
    signal: dict[str, Any] = d["tests"][guid]["signals"][index]
    return signal


def _fields(d: dict[str, Any], guid: str = G1, index: int = 0) -> dict[str, Any]:
    fields: dict[str, Any] = _sig(d, guid, index)["match"].setdefault("fields", {})
    return fields


RULES: dict[str, tuple[Mutation, str, bool]] = {
    # name: (mutation, message fragment, also rejected by the JSON Schema alone)
    "unknown top key": (lambda d: d.update(version=2), "unknown key 'version'", True),
    "technique mismatch": (lambda d: d.update(attack_technique="T1590.004"), "does not match", False),
    "unknown guid": (
        lambda d: d["tests"].update({"0f1b1f2e-6f8a-4c1e-9d43-2b7b8f6f0d11": d["tests"][G1]}),
        "is not the GUID of any test",
        False,
    ),
    "test without signals entry": (lambda d: d["tests"].pop(G3), "no signals declared for T1590.005-3", False),
    "atomic_id mismatch": (lambda d: d["tests"][G1].update(atomic_id="T1590.005-2"), "does not match", False),
    "secret not an argument": (lambda d: d["tests"][G1].update(secrets=["token"]), "not an input argument", False),
    "empty signals": (lambda d: d["tests"][G1].update(signals=[]), "at least one signal", True),
    "signal unknown key": (lambda d: _sig(d).update(severity="high"), "unknown key 'severity'", True),
    "signal missing detections": (lambda d: _sig(d).pop("detections"), "missing required key 'detections'", True),
    "signal id format": (lambda d: _sig(d).update(id="Shodan Host"), "lowercase letters", True),
    "duplicate signal id": (lambda d: _sig(d, G3).update(id=_sig(d)["id"]), "duplicate signal id", False),
    "bad source": (lambda d: _sig(d).update(source="edr"), "source 'edr' is not one of", True),
    "bad sensor": (lambda d: _sig(d).update(sensor="pcap"), "sensor 'pcap' is not one of", True),
    "bad mode": (lambda d: _sig(d).update(modes=["tunnel"]), "mode 'tunnel'", True),
    "bad enriched_by": (lambda d: _sig(d).update(enriched_by=["pcap"]), "enriched_by 'pcap' is not one of", True),
    "enriched_by repeats": (lambda d: _sig(d).update(enriched_by=[_sig(d)["sensor"]]), "repeats a sensor", False),
    "logsource key": (lambda d: _sig(d)["match"]["logsource"].update(channel="x"), "logsource key 'channel'", True),
    "logsource empty": (lambda d: _sig(d)["match"].update(logsource={}), "must name a product", True),
    "unknown modifier": (lambda d: _fields(d).update({"Image|base64": "x"}), "modifier 'base64'", True),
    "two comparisons": (lambda d: _fields(d).update({"Image|contains|endswith": "x"}), "several comparison", False),
    "all with scalar": (lambda d: _fields(d).update({"Image|contains|all": "x"}), "'all' with a single value", False),
    "bad regex": (lambda d: _fields(d).update({"Image|re": "(["}), "invalid regular expression", False),
    "bad cidr": (lambda d: _fields(d).update({"dst_ip|cidr": "10.0.0.0/99"}), "is not a network", False),
    "undeclared placeholder": (lambda d: _fields(d).update({"Image": "#{nope}"}), "#{nope} is not an input", False),
    "secret in match": (lambda d: _fields(d).update({"CommandLine|contains": "#{api_key}"}), "is a secret", False),
    "min_count zero": (lambda d: _sig(d)["match"].update(min_count=0), "min_count must be an integer", True),
    "sigma id not uuid": (lambda d: _sig(d)["detections"].update(sigma=["shodan-rule"]), "not a lowercase UUID", True),
    "kql absolute": (
        lambda d: _sig(d)["detections"].update(kql=[{"query": "/etc/x.kql", "branch": "B"}]),
        "repository-relative",
        True,
    ),
    "kql escapes": (
        lambda d: _sig(d)["detections"].update(kql=[{"query": "detections/kql/../../x.kql", "branch": "B"}]),
        "repository-relative",
        True,
    ),
    "kql not kql": (
        lambda d: _sig(d)["detections"].update(kql=[{"query": "detections/kql/x.txt", "branch": "B"}]),
        "repository-relative",
        True,
    ),
    "kql bad branch": (
        lambda d: _sig(d)["detections"].update(kql=[{"query": KQL, "branch": "Endpoint IP"}]),
        "not an identifier",
        True,
    ),
    "kql missing branch": (
        lambda d: _sig(d)["detections"].update(kql=[{"query": KQL}]),
        "missing required key 'branch'",
        True,
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_sidecar_rule_fails_when_broken(
    rule: str, technique_path: Path, signals_path: Path, repo_root: Path, tmp_path: Path
) -> None:
    technique = load_technique(technique_path)
    data = yaml.load(signals_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    mutate, expected, schema_too = RULES[rule]
    broken = copy.deepcopy(data)
    mutate(broken)
    path = tmp_path / "T1590.005.signals.yaml"
    path.write_text(yaml.dump(broken, Dumper=yaml.CSafeDumper, sort_keys=False), encoding="utf-8")
    with pytest.raises(ErrorCollection) as info:
        load_signals(path, technique)
    messages = [e.message for e in info.value.errors]
    assert any(expected in m for m in messages), messages
    assert all(e.location is not None and e.location.line for e in info.value.errors)
    if schema_too:
        schema = json.loads((repo_root / "harness" / "atomics" / "signals.schema.json").read_text(encoding="utf-8"))
        assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken)), "schema accepted a broken file"


def test_unmutated_dump_still_loads(technique_path: Path, signals_path: Path, tmp_path: Path) -> None:
    technique = load_technique(technique_path)
    path = tmp_path / "s.yaml"
    path.write_text(
        yaml.dump(
            yaml.load(signals_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader), Dumper=yaml.CSafeDumper
        ),
        encoding="utf-8",
    )
    assert len(load_signals(path, technique).expectations) == 5


def test_broken_sidecar_reports_every_problem_with_line_and_column(
    technique_path: Path, tmp_path: Path, locate: Any
) -> None:
    text = f"""\
attack_technique: T1590.005
tests:
  {G1}:
    atomic_id: T1590.005-9
    secrets: [api_key, nope]
    signals:
    - id: a
      description: d
      source: sysmon
      sensor: edr
      match:
        logsource: {{category: process_creation}}
        fields:
          CommandLine|contains: 'shodan init #{{api_key}}'
          Image|sortof: x
      detections:
        kql: [{{query: detections/kql/../x.kql, branch: B}}]
"""
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ErrorCollection) as info:
        load_signals(path, load_technique(technique_path))
    got = {(e.location.line, e.location.column): e.message for e in info.value.errors if e.location}
    expected = {
        locate(text, "T1590.005-9"): "atomic_id 'T1590.005-9' does not match",
        locate(text, "nope"): "secret 'nope' is not an input argument",
        locate(text, "edr"): "sensor 'edr'",
        locate(text, "#{api_key}"): "is a secret",
        locate(text, "Image|sortof"): "modifier 'sortof'",
        locate(text, "detections/kql/../x.kql"): "repository-relative",
    }
    for position, fragment in expected.items():
        assert position in got, f"no error at {position} ({fragment!r}); got {got}"
        assert fragment in got[position]
    # The four tests without an entry are reported on the `tests` mapping, one error each.
    missing = [e for e in info.value.errors if "no signals declared" in e.message]
    assert [e.message.split()[-2] for e in missing] == [f"T1590.005-{i}" for i in range(2, 6)]
    assert {(e.location.line, e.location.column) for e in missing if e.location} == {locate(text, G1)}
    assert len(info.value.errors) == len(expected) + 4


def test_load_reports_both_files_when_the_technique_is_broken(
    technique_path: Path, signals_path: Path, tmp_path: Path, locate: Any
) -> None:
    technique_text = technique_path.read_text(encoding="utf-8").replace("name: sh\n", "name: zsh\n", 1)
    signals_text = signals_path.read_text(encoding="utf-8").replace("source: sysmon", "source: edr", 1)
    (tmp_path / "T1590.005.yaml").write_text(technique_text, encoding="utf-8")
    (tmp_path / "T1590.005.signals.yaml").write_text(signals_text, encoding="utf-8")
    with pytest.raises(ErrorCollection) as info:
        load(tmp_path / "T1590.005.yaml")
    by_file = {
        (Path(e.location.path).name, e.location.line, e.location.column) for e in info.value.errors if e.location
    }
    assert ("T1590.005.yaml", *locate(technique_text, "zsh")) in by_file
    assert ("T1590.005.signals.yaml", *locate(signals_text, "edr")) in by_file
    assert any("'edr' is not one of" in e.message for e in info.value.errors)

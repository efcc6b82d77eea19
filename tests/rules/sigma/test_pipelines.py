"""detections/pipelines: each loads as a pySigma processing pipeline and makes the rules match the
raw field names of its telemetry source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sigma.processing.pipeline import ProcessingPipeline

from harness.rules.sigma import SigmaEngine

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "detections" / "pipelines"
RULES = ROOT / "detections" / "sigma"


@pytest.mark.parametrize("name", ["auditd", "sysmon_linux", "windows_sysmon", "dnsmasq", "squid"])
def test_pipeline_loads_and_every_rule_still_compiles(name: str) -> None:
    path = PIPELINES / f"{name}.yml"
    pipeline = ProcessingPipeline.from_yaml(path.read_text())
    assert pipeline.items
    engine = SigmaEngine.from_paths([RULES], pipelines=[path])
    assert not engine.problems, [str(p) for p in engine.problems]


def test_dnsmasq_pipeline_matches_raw_resolver_records() -> None:
    engine = SigmaEngine.from_paths([RULES / "dns_ip_intel_service_query.yml"], pipelines=[PIPELINES / "dnsmasq.yml"])
    raw = [  # harness.telemetry.parsers.dnsmasq field names
        {"action": "query", "qtype": "A", "name": "api.shodan.io", "client_ip": "192.0.2.7"},
        {"action": "config", "name": "api.shodan.io", "answer": "192.0.2.10"},  # an answer, not a query
        {"action": "query", "qtype": "A", "name": "www.debian.org", "client_ip": "192.0.2.7"},
    ]
    out = engine.match_all([{"logsource": {"category": "dns"}, "event": e} for e in raw])
    assert [m.index for m in out] == [0]


def test_squid_pipeline_matches_raw_access_log_records() -> None:
    engine = SigmaEngine.from_paths([RULES / "proxy_ip_intel_lookup.yml"], pipelines=[PIPELINES / "squid.yml"])
    raw = [  # harness.telemetry.parsers.squid field names
        {"method": "GET", "url": "http://whois.arin.net/rest/ip/192.0.2.1", "host": "whois.arin.net", "status": 200},
        {"method": "CONNECT", "url": "bgp.he.net:443", "host": "bgp.he.net", "status": 200},
        {"method": "GET", "url": "http://deb.debian.org/debian/", "host": "deb.debian.org", "status": 200},
    ]
    out = engine.match_all([{"logsource": {"category": "proxy"}, "event": e} for e in raw])
    assert [m.index for m in out] == [0, 1]


def test_sysmon_linux_pipeline_routes_raw_sysmon_by_event_id() -> None:
    engine = SigmaEngine.from_paths([RULES / "proc_creation_lnx_nmap_ping_sweep.yml"],
                                    pipelines=[PIPELINES / "sysmon_linux.yml"])
    assert engine.rules[0].logsource.service == "sysmon"
    events = [json.loads(line) for line in (ROOT / "tests/data/sigma/recording.jsonl").read_text().splitlines()]
    raw = [{"logsource": {"product": "linux", "service": "sysmon"}, "event": e["event"]}
           for e in events if e["meta"]["source"] == "sysmon"]
    hits = engine.match_all(raw)
    assert hits and all(m.event["EventID"] == 1 for m in hits)
    # the same command line in a non-process event does not match: the EventID condition holds
    fake = {"logsource": {"product": "linux", "service": "sysmon"},
            "event": {**hits[0].event, "EventID": 5}}
    assert engine.match_all([fake]) == []


def test_auditd_pipeline_maps_process_creation_to_execve_syscalls() -> None:
    engine = SigmaEngine.from_paths([RULES / "proc_creation_lnx_nmap_ping_sweep.yml"],
                                    pipelines=[PIPELINES / "auditd.yml"])
    ls = {"product": "linux", "service": "auditd"}
    raw = [
        {"type": "SYSCALL", "syscall": "execve", "exe": "/usr/bin/nmap", "proctitle": "nmap -sn 192.0.2.0/28"},
        {"type": "SYSCALL", "syscall": "connect", "exe": "/usr/bin/nmap", "proctitle": "nmap -sn 192.0.2.0/28"},
        {"type": "SYSCALL", "syscall": "59", "exe": "/usr/bin/nmap", "proctitle": "nmap -sV 192.0.2.1"},
    ]
    assert [m.index for m in engine.match_all([{"logsource": ls, "event": e} for e in raw])] == [0]

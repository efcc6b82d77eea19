"""Turn the Sysmon-for-Linux lab recording (tests/data/recordings) into Sigma-view JSONL for the Sigma tests.

Run from the repository root:  python tests/data/sigma/make_events.py
It rewrites tests/data/sigma/recording.jsonl (and synthetic-theharvester.jsonl) deterministically.

This is test scaffolding, deliberately independent of harness.telemetry / harness.views (built in
parallel): Sysmon events 1/3/11/23 keep Sysmon's own field names; dnsmasq query lines become
``dns`` events; the fake internet's HTTP request log becomes ``proxy`` events; raw auditd EXECVE
records become ``linux/auditd`` events with decoded a0..aN; NETFILTER_PKT records become
``firewall`` events. Every event carries ``meta.atomic``: the atomic whose SSH session window
(manifest) contains it, or ``none`` (lab setup / teardown noise).

Two documented enrichments: Sysmon for Linux leaves ``DestinationHostname`` as ``-``; it is filled
from the resolver's answers (the name dnsmasq resolved to that address), as a Sigma view that joins
DNS does. Secrets: the Shodan API key in proxy query strings is replaced by ``REDACTED``.

theHarvester cannot be installed on the recording machines (see shared/reference/telemetry.md), so
``synthetic-theharvester.jsonl`` holds hand-built events shaped like the recording's for the
command the atomic runs; every one is marked ``meta.synthetic: true``.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REC = ROOT / "tests" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28"
OUT = Path(__file__).resolve().parent
YEAR = 2026

SYSMON_CATEGORY = {"1": "process_creation", "3": "network_connection", "11": "file_event", "23": "file_delete"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def windows() -> list[tuple[str, float, float]]:
    manifest = json.loads((REC / "manifest.json").read_text())
    out = []
    for a in manifest["atomics"]:
        out.append((a["atomic"], parse_iso(a["ssh_connect_utc"]) - 0.5, parse_iso(a["ssh_close_utc"]) + 0.5))
    return out


def atomic_of(ts: float, wins: list[tuple[str, float, float]], coarse: bool = False) -> str:
    for name, start, end in wins:
        if coarse:  # second-resolution timestamps (dnsmasq)
            if int(start) <= ts <= int(end) + 1:
                return name
        elif start <= ts <= end:
            return name
    return "none"


def resolver_answers() -> list[tuple[float, str, str]]:
    out = []
    for line in (REC / "dnsmasq.log").read_text().splitlines():
        m = re.match(r"(\w+ +\d+ [\d:]+) dnsmasq\[\d+\]: \d+ \S+ (?:config|reply) (\S+) is ([\d.]+)$", line)
        if m:
            ts = datetime.strptime(f"{YEAR} {m.group(1)}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC).timestamp()
            out.append((ts, m.group(3), m.group(2)))
    return out


def sysmon_events(wins: list[tuple[str, float, float]]) -> list[dict]:
    answers = resolver_answers()
    events = []
    for lineno, line in enumerate((REC / "sysmon.log").read_text().splitlines(), 1):
        xml = line[line.index("<Event>") :]
        root = ET.fromstring(xml)
        eid = root.findtext("System/EventID")
        if eid not in SYSMON_CATEGORY:
            continue
        data = {d.get("Name"): (d.text or "") for d in root.iter("Data")}
        data["EventID"] = int(eid)
        ts = parse_iso(root.find("System/TimeCreated").get("SystemTime")[:26] + "Z")
        meta = {"source": "sysmon", "file": "sysmon.log", "line": lineno, "time": iso(ts)}
        if eid == "3" and data.get("DestinationHostname") in ("-", "", None):
            names = [n for t, ip, n in answers if ip == data.get("DestinationIp") and t <= ts + 1]
            if names:
                data["DestinationHostname"] = names[-1]
                meta["enriched"] = "DestinationHostname from resolver answers"
        meta["atomic"] = atomic_of(ts, wins)
        ls = {"product": "linux", "category": SYSMON_CATEGORY[eid]}
        events.append({"logsource": ls, "event": data, "meta": meta})
    return events


def dns_events(wins: list[tuple[str, float, float]]) -> list[dict]:
    lines = (REC / "dnsmasq.log").read_text().splitlines()
    answers: dict[str, list[str]] = {}
    for line in lines:
        m = re.search(r": (\d+) \S+ (?:config|reply|cached) \S+ is (.+)$", line)
        if m:
            answers.setdefault(m.group(1), []).append(m.group(2))
    out = []
    for lineno, line in enumerate(lines, 1):
        m = re.match(r"(\w+ +\d+ [\d:]+) dnsmasq\[\d+\]: (\d+) \S+ query\[(\w+)\] (\S+) from (\S+)$", line)
        if not m:
            continue
        ts = datetime.strptime(f"{YEAR} {m.group(1)}", "%Y %b %d %H:%M:%S").replace(tzinfo=UTC).timestamp()
        event = {"query": m.group(4), "record_type": m.group(3), "src_ip": m.group(5),
                 "answer": ";".join(answers.get(m.group(2), []))}
        meta = {"source": "dnsmasq", "file": "dnsmasq.log", "line": lineno, "time": iso(ts),
                "atomic": atomic_of(ts, wins, coarse=True)}
        out.append({"logsource": {"category": "dns"}, "event": event, "meta": meta})
    return out


def proxy_events(wins: list[tuple[str, float, float]]) -> list[dict]:
    out = []
    for lineno, line in enumerate((REC / "fakeinet.jsonl").read_text().splitlines(), 1):
        rec = json.loads(line)
        if rec.get("kind") != "http":
            continue
        query = re.sub(r"(^|&)key=[^&]*", r"\1key=REDACTED", rec.get("query") or "")
        event = {
            "cs-host": rec["host"], "cs-method": rec["method"],
            "c-uri": rec["path"] + (f"?{query}" if query else ""), "c-uri-query": query,
            "c-useragent": rec.get("ua", ""), "sc-status": rec["status"],
            "src_ip": rec["client"], "dst_ip": rec["server_ip"],
        }
        meta = {"source": "inet", "file": "fakeinet.jsonl", "line": lineno, "time": iso(rec["ts"]),
                "atomic": atomic_of(rec["ts"], wins)}
        out.append({"logsource": {"category": "proxy"}, "event": event, "meta": meta})
    return out


def _decode_arg(value: str) -> str:
    if value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    try:
        return bytes.fromhex(value).decode("utf-8", "replace")
    except ValueError:
        return value


def auditd_events(wins: list[tuple[str, float, float]]) -> list[dict]:
    out = []
    for lineno, line in enumerate((REC / "audit.log").read_text().splitlines(), 1):
        line = line.split("\x1d")[0]
        if not line.startswith("type=EXECVE "):
            continue
        m = re.search(r"msg=audit\(([\d.]+):(\d+)\)", line)
        ts = float(m.group(1))
        event: dict[str, object] = {"type": "EXECVE"}
        pieces: dict[str, dict[int, str]] = {}
        for key, value in re.findall(r'(\w+(?:\[\d+\])?)=("[^"]*"|\S+)', line[m.end():]):
            if key == "argc":
                event["argc"] = int(value)
            elif re.fullmatch(r"a\d+", key):
                event[key] = _decode_arg(value)
            elif re.fullmatch(r"a\d+\[\d+\]", key):
                name, idx = key[:-1].split("[")
                pieces.setdefault(name, {})[int(idx)] = value
        for name, parts in pieces.items():  # long arguments are split into aN[i] hex pieces
            event[name] = _decode_arg("".join(parts[i] for i in sorted(parts)))
        meta = {"source": "auditd", "file": "audit.log", "line": lineno, "time": iso(ts),
                "atomic": atomic_of(ts, wins)}
        out.append({"logsource": {"product": "linux", "service": "auditd"}, "event": event, "meta": meta})
    return out


def firewall_events(wins: list[tuple[str, float, float]]) -> list[dict]:
    protos = {"1": "icmp", "6": "tcp", "17": "udp"}
    out = []
    for lineno, line in enumerate((REC / "audit-context.log").read_text().splitlines(), 1):
        if not line.startswith("type=NETFILTER_PKT "):
            continue
        ts = float(re.search(r"msg=audit\(([\d.]+):", line).group(1))
        f = dict(re.findall(r"(\w+)=(\S+)", line.split("):", 1)[1]))
        event = {"src_ip": f["saddr"], "dst_ip": f["daddr"], "protocol": protos.get(f["proto"], f["proto"]),
                 "action": "log"}
        meta = {"source": "nflog", "file": "audit-context.log", "line": lineno, "time": iso(ts),
                "atomic": atomic_of(ts, wins)}
        out.append({"logsource": {"product": "linux", "category": "firewall"}, "event": event, "meta": meta})
    return out


def synthetic_theharvester() -> list[dict]:
    """Events of `theHarvester -d <domain> -b dnsdumpster,bing -f <stem>` shaped like the recording's."""
    base = parse_iso("2026-11-28T06:00:00.000Z")
    py = "/opt/harvester/.venv/bin/python3"
    tool = "/opt/harvester/.venv/bin/theHarvester"
    cmd = "theHarvester -d corp.invalid -b dnsdumpster,bing -f /var/tmp/harvest-out"
    meta = {"source": "synthetic", "synthetic": True, "atomic": "theharvester"}

    def ev(dt: float, ls: dict, fields: dict) -> dict:
        return {"logsource": ls, "event": fields, "meta": {**meta, "time": iso(base + dt)}}

    pc = {"product": "linux", "category": "process_creation"}
    return [
        ev(0.0, pc, {"EventID": 1, "Image": "/usr/bin/bash", "CommandLine": f"bash -c {cmd}",
                     "ParentImage": "/usr/sbin/sshd", "User": "root", "CurrentDirectory": "/root"}),
        ev(0.01, pc, {"EventID": 1, "Image": "/usr/bin/python3.12", "CommandLine": f"{py} {tool} {cmd[13:]}",
                      "ParentImage": "/usr/sbin/sshd", "User": "root", "CurrentDirectory": "/root"}),
        ev(0.5, {"category": "dns"}, {"query": "dnsdumpster.com", "record_type": "A", "src_ip": "192.0.2.10"}),
        ev(0.6, {"category": "dns"}, {"query": "www.bing.com", "record_type": "A", "src_ip": "192.0.2.10"}),
        ev(0.7, {"product": "linux", "category": "network_connection"},
           {"EventID": 3, "Image": "/usr/bin/python3.12", "Initiated": "true", "Protocol": "tcp",
            "DestinationHostname": "dnsdumpster.com", "DestinationIp": "192.0.2.200", "DestinationPort": "443"}),
        ev(0.8, {"category": "proxy"}, {"cs-host": "dnsdumpster.com", "cs-method": "CONNECT",
                                        "c-uri": "dnsdumpster.com:443", "c-useragent": "python-requests/2.32.3",
                                        "sc-status": 200}),
        ev(2.0, {"product": "linux", "category": "file_event"},
           {"EventID": 11, "Image": "/usr/bin/python3.12",
            "TargetFilename": "/root/.local/share/theHarvester/stash.sqlite"}),
        ev(2.1, {"product": "linux", "category": "file_event"},
           {"EventID": 11, "Image": "/usr/bin/python3.12", "TargetFilename": "/var/tmp/harvest-out.xml"}),
    ]


def main() -> None:
    wins = windows()
    events = sysmon_events(wins) + dns_events(wins) + proxy_events(wins) + auditd_events(wins) + firewall_events(wins)
    events.sort(key=lambda e: (e["meta"]["time"], e["meta"]["source"], e["meta"]["line"]))
    with (OUT / "recording.jsonl").open("w") as fh:
        for e in events:
            fh.write(json.dumps(e, sort_keys=True) + "\n")
    with (OUT / "synthetic-theharvester.jsonl").open("w") as fh:
        for e in synthetic_theharvester():
            fh.write(json.dumps(e, sort_keys=True) + "\n")
    print(f"{len(events)} recorded events, {len(synthetic_theharvester())} synthetic")


if __name__ == "__main__":
    main()

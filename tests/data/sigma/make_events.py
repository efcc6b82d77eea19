"""Turn the Sysmon-for-Linux lab recording (tests/data/recordings) into Sigma-view JSONL for the Sigma tests.

Run from the repository root:  python tests/data/sigma/make_events.py
It rewrites tests/data/sigma/recording.jsonl deterministically.

This is test scaffolding, deliberately independent of harness.telemetry / harness.views (built in
parallel): Sysmon events 1/3/11/23 keep Sysmon's own field names; dnsmasq query lines become
``dns`` events; the fake internet's HTTP request log becomes ``proxy`` events; raw auditd EXECVE
records become ``linux/auditd`` events with decoded a0..aN; NETFILTER_PKT records become
``firewall`` events. Every event carries ``meta.atomic``: the atomic whose SSH session window
(manifest) contains it, or ``none`` (lab setup / teardown noise).

Two documented enrichments: Sysmon for Linux leaves ``DestinationHostname`` as ``-``; it is filled
from the resolver's answers (the name dnsmasq resolved to that address), as a Sigma view that joins
DNS does. Secrets: the Shodan API key in proxy query strings is replaced by ``REDACTED``.

theHarvester is not in that recording: the Sigma tests read its real events from the embedded-lab
recording (tests/data/recordings/embedded-lab/*/T1590.005-4/sigma.jsonl.gz) instead.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def sysmon_events(wins: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    answers = resolver_answers()
    events = []
    for lineno, line in enumerate((REC / "sysmon.log").read_text().splitlines(), 1):
        xml = line[line.index("<Event>") :]
        root = ET.fromstring(xml)
        eid = root.findtext("System/EventID")
        if eid not in SYSMON_CATEGORY:
            continue
        data: dict[str | None, object] = {d.get("Name"): (d.text or "") for d in root.iter("Data")}
        data["EventID"] = int(eid)
        created = root.find("System/TimeCreated")
        assert created is not None
        ts = parse_iso(str(created.get("SystemTime"))[:26] + "Z")
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


def dns_events(wins: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
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


def proxy_events(wins: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
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


def auditd_events(wins: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    out = []
    for lineno, line in enumerate((REC / "audit.log").read_text().splitlines(), 1):
        line = line.split("\x1d")[0]
        if not line.startswith("type=EXECVE "):
            continue
        m = re.search(r"msg=audit\(([\d.]+):(\d+)\)", line)
        assert m is not None, line
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


def firewall_events(wins: list[tuple[str, float, float]]) -> list[dict[str, Any]]:
    protos = {"1": "icmp", "6": "tcp", "17": "udp"}
    out = []
    for lineno, line in enumerate((REC / "audit-context.log").read_text().splitlines(), 1):
        if not line.startswith("type=NETFILTER_PKT "):
            continue
        stamp = re.search(r"msg=audit\(([\d.]+):", line)
        assert stamp is not None, line
        ts = float(stamp.group(1))
        f = dict(re.findall(r"(\w+)=(\S+)", line.split("):", 1)[1]))
        event = {"src_ip": f["saddr"], "dst_ip": f["daddr"], "protocol": protos.get(f["proto"], f["proto"]),
                 "action": "log"}
        meta = {"source": "nflog", "file": "audit-context.log", "line": lineno, "time": iso(ts),
                "atomic": atomic_of(ts, wins)}
        out.append({"logsource": {"product": "linux", "category": "firewall"}, "event": event, "meta": meta})
    return out


def main() -> None:
    wins = windows()
    events = sysmon_events(wins) + dns_events(wins) + proxy_events(wins) + auditd_events(wins) + firewall_events(wins)
    events.sort(key=lambda e: (e["meta"]["time"], e["meta"]["source"], e["meta"]["line"]))
    with (OUT / "recording.jsonl").open("w") as fh:
        for e in events:
            fh.write(json.dumps(e, sort_keys=True) + "\n")
    print(f"{len(events)} recorded events")


if __name__ == "__main__":
    main()

"""Build Defender-view rows of the Sysmon for Linux lab recording (test data for the KQL engine).

Reproducible: ``python tests/data/kql/make_lab_defender_rows.py`` rewrites
``tests/data/kql/lab-defender.jsonl`` from tests/data/recordings/sysmon-linux-lab-2026-11-28/.
Standalone on purpose (stdlib only), so the KQL tests do not depend on harness.views.defender,
which is built in parallel. Mapping (Microsoft's column names):

* Sysmon EventID 1 -> DeviceProcessEvents, ActionType ProcessCreated: Timestamp = UtcTime,
  DeviceName = Computer, FileName/FolderPath from Image, ProcessCommandLine = CommandLine,
  AccountName = User, InitiatingProcess* from the Parent* fields.
* Sysmon EventID 3 -> DeviceNetworkEvents: Initiated=true is an outbound ConnectionSuccess
  (Sysmon logs only completed TCP handshakes), Initiated=false an InboundConnectionAccepted with
  local and remote swapped. RemoteUrl is the name the lab resolver (dnsmasq.log) last answered
  with the remote address, at or before the connection's second; RemoteIPType is Public for the
  lab's simulated internet (198.51.100.0/24), Reserved for the RFC 2544 SSH transport range.
  InitiatingProcessCommandLine comes from the EventID 1 of the same ProcessGuid.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REC = HERE.parent / "recordings" / "sysmon-linux-lab-2026-11-28"


def events(path: Path) -> list[tuple[int, dict[str, str], str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.search(r"<EventID>(\d+)</EventID>", line)
        if not m:
            continue
        data = {k: v for k, v in re.findall(r'<Data Name="([^"]+)">([^<]*)</Data>', line)}
        computer = re.search(r"<Computer>([^<]*)</Computer>", line)
        out.append((int(m.group(1)), data, computer.group(1) if computer else ""))
    return out


def dns_answers(path: Path) -> list[tuple[str, str, str]]:
    """(HH:MM:SS, name, address) for each A answer of the lab resolver."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\w{3} +\d+ (\d\d:\d\d:\d\d) dnsmasq\[\d+\]: \d+ \S+ config (\S+) is (\d+\.\d+\.\d+\.\d+)$", line)
        if m and not m.group(2)[0].isdigit():
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def iso(utc: str) -> str:
    return utc.replace(" ", "T") + "Z"


def val(v: str) -> str:
    return "" if v == "-" else v


def ip_type(ip: str) -> str:
    if ip.startswith("198.51.100."):
        return "Public"
    if ip.startswith("198.18.") or ip.startswith("198.19."):
        return "Reserved"
    return "Private"


def main() -> int:
    evs = events(REC / "sysmon.log")
    answers = dns_answers(REC / "dnsmasq.log")
    cmd_by_guid = {d["ProcessGuid"]: d.get("CommandLine", "") for eid, d, _ in evs if eid == 1}
    rows = []
    for eid, d, computer in evs:
        if eid == 1:
            image, parent = d["Image"], val(d.get("ParentImage", "-"))
            rows.append({"table": "DeviceProcessEvents", "row": {
                "Timestamp": iso(d["UtcTime"]), "DeviceName": computer, "ActionType": "ProcessCreated",
                "FileName": image.rsplit("/", 1)[-1], "FolderPath": image, "ProcessId": int(d["ProcessId"]),
                "ProcessCommandLine": d.get("CommandLine", ""), "ProcessCreationTime": iso(d["UtcTime"]),
                "AccountName": val(d.get("User", "-")), "LogonId": int(d["LogonId"]) if d.get("LogonId") else None,
                "SHA256": d.get("Hashes", "").removeprefix("SHA256="),
                "InitiatingProcessFileName": parent.rsplit("/", 1)[-1], "InitiatingProcessFolderPath": parent,
                "InitiatingProcessId": int(d["ParentProcessId"]),
                "InitiatingProcessCommandLine": val(d.get("ParentCommandLine", "-")),
                "InitiatingProcessAccountName": val(d.get("ParentUser", "-")),
            }})
        elif eid == 3:
            outbound = d["Initiated"] == "true"
            src, dst = (d["SourceIp"], d["SourcePort"]), (d["DestinationIp"], d["DestinationPort"])
            (local_ip, local_port), (remote_ip, remote_port) = (src, dst) if outbound else (dst, src)
            second = d["UtcTime"][11:19]
            names = [n for t, n, a in answers if a == remote_ip and t <= second]
            image = d["Image"]
            rows.append({"table": "DeviceNetworkEvents", "row": {
                "Timestamp": iso(d["UtcTime"]), "DeviceName": computer,
                "ActionType": "ConnectionSuccess" if outbound else "InboundConnectionAccepted",
                "RemoteIP": remote_ip, "RemotePort": int(remote_port), "RemoteUrl": names[-1] if names else "",
                "LocalIP": local_ip, "LocalPort": int(local_port), "Protocol": d["Protocol"].capitalize(),
                "LocalIPType": ip_type(local_ip), "RemoteIPType": ip_type(remote_ip),
                "InitiatingProcessFileName": image.rsplit("/", 1)[-1], "InitiatingProcessFolderPath": image,
                "InitiatingProcessId": int(d["ProcessId"]),
                "InitiatingProcessCommandLine": cmd_by_guid.get(d["ProcessGuid"], ""),
                "InitiatingProcessAccountName": val(d.get("User", "-")),
            }})
    out = HERE / "lab-defender.jsonl"
    out.write_text("".join(json.dumps(r, sort_keys=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{out}: {len(rows)} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every parser survives mutated real lines (seeded): it yields or counts, never raises."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.telemetry.attribution import Detonation, attribute
from harness.telemetry.parsers import ParseStats, auditd, dnsmasq, inet, nflog, squid, sysmon
from harness.views.defender import defender_rows
from harness.views.sigma import sigma_events

DATA = Path(__file__).resolve().parents[2] / "data" / "telemetry"
SOURCES = {
    "auditd": (auditd.parse, ["audit-nmap-ses62.log", "audit-malformed.log"]),
    "sysmon": (sysmon.parse, ["sysmon-syslog.log"]),
    "dnsmasq": (dnsmasq.parse, ["dnsmasq.log"]),
    "inet": (inet.parse, ["fakeinet-nokey.jsonl"]),
    "squid": (squid.parse, ["squid-native.log", "squid-harness.log"]),
}
NFLOG = ['{"oob.prefix": "p", "src_ip": "198.51.100.250", "dest_ip": "198.51.100.129", "ip.protocol": 1}']


def _mutate(rng: random.Random, line: str) -> str:
    op = rng.randrange(6)
    if not line:
        return line
    i = rng.randrange(len(line))
    if op == 0:
        return line[:i]  # truncated
    if op == 1:
        return line[:i] + rng.choice(['"', "'", "=", " ", "\x1d", "(", ")", ":", "<", ">", "{", "\x00"]) + line[i:]
    if op == 2:
        return line[:i] + line[i + rng.randrange(1, 20) :]  # hole
    if op == 3:
        return line.replace("=", " ", rng.randrange(1, 4))
    if op == 4:
        return "".join(rng.sample(line, len(line)))  # shuffled garbage
    return line + line[:i]  # glued to part of itself


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("source", [*sorted(SOURCES), "nflog"])
def test_mutated_lines_never_crash(source: str, seed: int) -> None:
    rng = random.Random(20261128 + seed)
    if source == "nflog":
        parse, lines = nflog.parse, NFLOG * 50
    else:
        parse, files = SOURCES[source]
        lines = [ln for f in files for ln in (DATA / f).read_text(encoding="utf-8").split("\n")]
    mutated = [_mutate(rng, ln) for _ in range(4) for ln in lines]
    st = ParseStats(source)
    kwargs = {"year": 2026} if source == "dnsmasq" else {}
    records = list(parse(mutated, file="fuzz", stats=st, **kwargs))
    assert st.read == sum(1 for m in mutated if m.strip())
    assert st.parsed == len(records)
    # The views accept whatever the parsers let through.
    sigma_events(records)
    defender_rows(records)
    attribute(
        records,
        Detonation(
            start=1795844100.0,
            end=1795844200.0,
            sessions=frozenset({"62"}),
            client_addresses=frozenset({"198.51.100.250"}),
        ),
    )

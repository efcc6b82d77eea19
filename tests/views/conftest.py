"""Real recording parsed once per session, and the lab's view context."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from harness.telemetry.parsers import Record, parse_file
from harness.views.context import ViewContext

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO / "tests" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28"


@pytest.fixture(scope="session")
def lab_ctx() -> ViewContext:
    return ViewContext(
        device_name="rec-lab",
        public_ranges=(ipaddress.ip_network("198.51.100.0/24"),),
        local_addresses=("198.51.100.250",),
    )


def _parse(*sources: tuple[str, str]) -> list[Record]:
    return [r for fmt, name in sources for r in parse_file(fmt, RECORDING / name, year=2026)]


@pytest.fixture(scope="session")
def audit_records() -> list[Record]:
    return _parse(("auditd", "audit.log"), ("dnsmasq", "dnsmasq.log"), ("inet", "fakeinet.jsonl"))


@pytest.fixture(scope="session")
def sysmon_records() -> list[Record]:
    return _parse(("sysmon", "sysmon.log"), ("dnsmasq", "dnsmasq.log"), ("inet", "fakeinet.jsonl"))

"""The contract between the C Sigma view (harness/views/_sigma_*.c) and the Python state it
works on: ProcessInfo's fields, and state handed over by documented methods only."""

from __future__ import annotations

import dataclasses
import posixpath
import re
from pathlib import Path

import pytest

from harness.telemetry.parsers import auditd as _auditd
from harness.telemetry.parsers.base import iso_utc
from harness.views import sigma
from harness.views.activity import ActivityExtractor, _int
from harness.views.context import ProcessInfo

fast = pytest.importorskip("harness.views._sigma_fast", reason="the C view is not built (setup.py needs gcc)")
#: every part of the extension (setup.py builds _sigma_fast from these)
SOURCES = sorted((Path(__file__).resolve().parents[2] / "harness" / "views").glob("_sigma_*.[ch]"))


def _build(info_type: type) -> object:
    return fast.AuditdSigma(ActivityExtractor(), info_type, sigma._AUDITD_LS, _int, _auditd.X86_64_SYSCALLS,
                            posixpath.normpath, iso_utc, True, True)


def test_processinfo_fields_are_the_c_views() -> None:
    assert tuple(f.name for f in dataclasses.fields(ProcessInfo)) == fast.PROCESSINFO_FIELDS


def test_a_processinfo_with_other_fields_is_refused() -> None:
    """Built without __init__, an object with a field the C code does not know would keep it unset:
    the view refuses such a class rather than build it."""
    _build(ProcessInfo)  # the real one is accepted
    extra = dataclasses.make_dataclass("ProcessInfo", [(f.name, f.type, f) for f in dataclasses.fields(ProcessInfo)]
                                       + [("container_id", "str | None", dataclasses.field(default=None))],
                                       frozen=True, slots=True)
    with pytest.raises(TypeError, match="PROCESSINFO_FIELDS"):
        _build(extra)
    reordered = dataclasses.make_dataclass("ProcessInfo", [("ppid", "int | None"), ("pid", "int | None")]
                                           + [(f.name, f.type, f) for f in dataclasses.fields(ProcessInfo)[2:]],
                                           frozen=True, slots=True)
    with pytest.raises(TypeError, match="PROCESSINFO_FIELDS"):
        _build(reordered)


def test_the_c_code_reads_no_private_attribute() -> None:
    """Attribute names the C code looks up (GetAttrString / CallMethod / interned): none private;
    dunders (``__dataclass_fields__``) are Python's own protocol."""
    assert {p.name for p in SOURCES} >= {"_sigma_event.c", "_sigma_fast.c", "_sigma_fast.h"}
    text = "\n".join(p.read_text(encoding="utf-8") for p in SOURCES)
    names = re.findall(r'(?:GetAttrString|CallMethod|INTERN)\([^"]*"([A-Za-z_][A-Za-z0-9_]*)"', text)
    assert "c_state" in names and "knows" in names
    private = [n for n in names if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))]
    assert private == []


def test_state_is_handed_over_by_the_documented_methods() -> None:
    ex = ActivityExtractor()
    pids, cap = ex.processes.c_state()
    inodes, resolve = ex.c_state()
    assert isinstance(pids, dict) and cap > 0 and isinstance(inodes, dict) and callable(resolve)
    assert ex.dns.knows("198.51.100.1") is False

"""Run records read back from manifests: typed only when they have the fields every reader uses."""

from __future__ import annotations

import pytest

from harness.records import as_run_record


def test_a_full_record_is_kept_as_written() -> None:
    rec: dict[str, object] = {"id": "T1590.005-3", "guid": "g", "status": "EXECUTED", "reason": "",
                              "commands": [], "correlation_id": "c", "exit_code": 0}
    assert dict(as_run_record(rec) or {}) == rec


def test_missing_reason_and_commands_read_as_empty() -> None:
    got = as_run_record({"id": "x", "status": "ERROR"})
    assert got is not None and dict(got) == {"id": "x", "status": "ERROR", "reason": "", "commands": []}


@pytest.mark.parametrize("value", [None, [], "run", {"status": "EXECUTED"}, {"id": 3, "status": "EXECUTED"},
                                   {"id": "x"}, {"id": "x", "status": "EXECUTED", "commands": {}},
                                   {"id": "x", "status": "EXECUTED", "reason": None}])
def test_anything_else_is_not_a_run_record(value: object) -> None:
    assert as_run_record(value) is None

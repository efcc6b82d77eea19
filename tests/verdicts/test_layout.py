"""Reading a saved telemetry layout back: the view files' lines have the views' shapes, or the
replay stops with the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.verdicts.layout import load_detonation

EVENT = {"logsource": {"product": "linux", "service": "auditd", "category": None},
         "event": {"type": "EXECVE", "a0": "nmap"},
         "meta": {"source": "auditd", "file": "audit.log", "line": 3, "time": "2026-11-28T06:00:00.000Z"}}
ROW = {"table": "DeviceProcessEvents", "row": {"FileName": "nmap"}}


def _detonation(tmp_path: Path, sigma: list[str], defender: list[str]) -> Path:
    d = tmp_path / "T1590.005-3"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"atomic": {"id": "T1590.005-3", "status": "EXECUTED"}}))
    (d / "sigma.jsonl").write_text("".join(line + "\n" for line in sigma))
    (d / "defender.jsonl").write_text("".join(line + "\n" for line in defender))
    return d


def test_view_files_load_with_their_shapes(tmp_path: Path) -> None:
    det = load_detonation(_detonation(tmp_path, [json.dumps(EVENT), ""], [json.dumps(ROW)]))
    assert det.sigma == [EVENT] and det.defender == [ROW] and det.status == "EXECUTED"


@pytest.mark.parametrize(("sigma", "defender", "where", "what"), [
    ([json.dumps(EVENT), json.dumps({"event": {}})], [], "sigma.jsonl:2:1", "not a Sigma event"),
    ([json.dumps({**EVENT, "meta": "audit.log"})], [], "sigma.jsonl:1:1", "not a Sigma event"),
    ([], [json.dumps(ROW), json.dumps({"table": 1, "row": {}})], "defender.jsonl:2:1", "not a Defender record"),
    ([], [json.dumps([ROW])], "defender.jsonl:1:1", "not a Defender record"),
    (["{"], [], "sigma.jsonl:1:1", "invalid JSON line"),
])
def test_a_line_without_the_shape_is_a_located_error(tmp_path: Path, sigma: list[str], defender: list[str],
                                                     where: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_detonation(_detonation(tmp_path, sigma, defender))
    assert what in str(info.value) and where in str(info.value)


def test_a_manifest_without_a_run_record_is_a_located_error(tmp_path: Path) -> None:
    d = _detonation(tmp_path, [], [])
    (d / "manifest.json").write_text(json.dumps({"atomic": {"status": "EXECUTED"}}))
    with pytest.raises(ConfigError, match="not a run record") as info:
        load_detonation(d)
    assert "manifest.json" in str(info.value)

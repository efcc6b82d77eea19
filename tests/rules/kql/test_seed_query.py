"""The seed Sentinel query: verbatim it fails on AccountName; the corrected one finds the lab's recon."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import RuleError
from harness.rules.kql import KqlEngine

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "kql"
SEED = ROOT / "detections" / "kql" / "T1590.005-sentinel-seed.kql"
FIXED = ROOT / "detections" / "kql" / "T1590.005-ip-recon.kql"
PAGE = ROOT / "tests" / "data" / "seed" / "T1590.005-sentinel-detection.txt"
LAB = DATA / "lab-defender.jsonl"


def _expected() -> object:
    spec = importlib.util.spec_from_file_location("lab_expected_ip_recon", DATA / "lab_expected_ip_recon.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EXP = _expected()
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def _engine(flavour: str) -> KqlEngine:
    eng = KqlEngine(flavour)  # type: ignore[arg-type]
    eng.load_jsonl("DeviceNetworkEvents", LAB, flavour)  # type: ignore[arg-type]
    eng.load_jsonl("DeviceProcessEvents", LAB, flavour)  # type: ignore[arg-type]
    return eng


def test_seed_file_is_verbatim_copy_of_the_detection_page() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert SEED.read_text(encoding="utf-8") in page


@pytest.mark.parametrize("flavour", ["defender", "sentinel"])
def test_verbatim_seed_fails_on_account_name_with_location(flavour: str) -> None:
    with pytest.raises(RuleError) as info:
        _engine(flavour).run(SEED.read_text(encoding="utf-8"), str(SEED), NOW)
    err = info.value
    assert "AccountName" in err.message and "Failed to resolve scalar expression" in err.message
    assert err.location is not None and (err.location.line, err.location.column) == (20, 34)


@pytest.mark.parametrize("flavour", ["defender", "sentinel"])
def test_corrected_query_returns_exactly_the_expected_rows(flavour: str) -> None:
    result = _engine(flavour).run(FIXED.read_text(encoding="utf-8"), str(FIXED), NOW)
    assert [c for c, _ in result.columns] == EXP.COLUMNS  # type: ignore[attr-defined]
    rows = list(result.records())
    expected = EXP.EXPECTED  # type: ignore[attr-defined]
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(rows, key=key) == sorted(expected, key=key)
    # sort by Timestamp desc: the order is that of the timestamps (ties in any order)
    stamps = [r["Timestamp"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    branches = {r["DetectionBranch"] for r in rows}
    assert branches == {"EndpointIPIntelLookup", "OSINTToolOnEndpoint"}


def test_corrected_query_reference_time_excludes_old_telemetry() -> None:
    later = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)  # 24h after: nothing is newer than ago(24h)
    assert _engine("defender").run(FIXED.read_text(encoding="utf-8"), str(FIXED), later).rows == ()


def test_cli_runs_corrected_query_and_rejects_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    tables = ["--table", f"DeviceNetworkEvents={LAB}", "--table", f"DeviceProcessEvents={LAB}",
              "--now", "2026-11-28T06:00:00Z"]
    assert main(["kql", f"@{FIXED}", *tables]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(x) for x in out.splitlines()]
    assert len(rows) == len(EXP.EXPECTED)  # type: ignore[attr-defined]
    assert list(rows[0]) == EXP.COLUMNS  # type: ignore[attr-defined]
    assert main(["kql", f"@{SEED}", *tables]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{SEED}:20:34:" in err and "AccountName" in err

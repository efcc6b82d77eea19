"""Paths to the real recording and local test data (tests/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO / "tests" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28"
SIGMAHQ_SAMPLES = REPO / "tests" / "data" / "sigmahq" / "regression-samples"
DATA = REPO / "tests" / "data" / "telemetry"
SHODAN_KEY = "FAKEKEY0123456789abcdef0123456"


@pytest.fixture(scope="session")
def recording() -> Path:
    assert RECORDING.is_dir(), f"{RECORDING} is part of the repository"
    return RECORDING


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA

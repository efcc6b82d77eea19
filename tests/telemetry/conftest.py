"""Paths to the real recording (../shared from the repository root) and local test data."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO.parent / "shared" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28"
SIGMAHQ_SAMPLES = REPO.parent / "shared" / "data" / "sigmahq" / "regression-samples"
DATA = REPO / "tests" / "data" / "telemetry"
SHODAN_KEY = "FAKEKEY0123456789abcdef0123456"


@pytest.fixture(scope="session")
def recording() -> Path:
    if not RECORDING.is_dir():
        pytest.skip(f"shared recording not found at {RECORDING}")
    return RECORDING


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA

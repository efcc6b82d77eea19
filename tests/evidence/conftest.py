"""One replay of the committed embedded-lab recording, shared by the evidence tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.evidence.runjson import build_document
from harness.run import ValidationRun

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def replayed_document(recording_without_sysmon: Path) -> dict[str, Any]:
    # The variant without Sysmon, so the evidence also carries skipped (SENSOR_UNAVAILABLE) signals.
    run = ValidationRun(target="netns://rah", detections=ROOT / "detections", replay=recording_without_sysmon)
    run.run_all()
    return build_document(run)

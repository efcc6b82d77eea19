"""One replay of the committed embedded-lab recording, shared by the evidence tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.plugin.suite import ValidationRun

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "recordings" / "embedded-lab"


@pytest.fixture(scope="session")
def replayed_document() -> dict[str, Any]:
    if not RECORDING.is_dir():
        pytest.skip(f"recording missing: {RECORDING}")
    run = ValidationRun(target="netns://rah", detections=ROOT / "detections", replay=RECORDING)
    for atomic in run.expected_atomics():
        run.outcome(atomic)
    run.ensure_control()
    run.close()
    return run.document()

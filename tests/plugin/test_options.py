"""The plugin's command line: options, markers under --strict-markers, test ids naming atomic and target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECORDING = ROOT / "tests" / "data" / "recordings" / "embedded-lab"


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=120)


def test_ids_show_atomic_and_target_and_markers_are_registered() -> None:
    res = _pytest("atomics/", "--co", "-q", "--strict-markers", "--replay", str(RECORDING))
    assert res.returncode == 0, res.stdout + res.stderr
    ids = [line for line in res.stdout.splitlines() if "::" in line]
    assert len(ids) == 6
    assert "atomics/test_T1590_005_3_nmap.py::test_nmap_ping_sweep[T1590.005-3@replay:embedded-lab]" in ids
    assert any("[negative-control@replay:embedded-lab]" in i for i in ids)
    live = _pytest("atomics/", "--co", "-q", "--target", "netns://rah", "-m", "lab")
    assert "[T1590.005-1@netns://rah]" in live.stdout  # live embedded-lab tests are marked lab
    markers = _pytest("--markers").stdout
    for name in ("@pytest.mark.atomic(id)", "@pytest.mark.lab", "@pytest.mark.destructive", "@pytest.mark.online"):
        assert name in markers


def test_bad_now_is_a_usage_error() -> None:
    res = _pytest("atomics/", "--co", "-q", "--replay", str(RECORDING), "--now", "yesterday")
    assert res.returncode == 4 and "--now expects an ISO 8601 time" in res.stderr


def test_options_are_documented() -> None:
    helptext = _pytest("--help").stdout
    for opt in ("--target=URL", "--detections=DIR", "--evidence-dir=DIR", "--record=DIR", "--replay=DIR",
                "--now=ISO8601"):
        assert opt in helptext


def test_plugin_import_is_light_and_consistent() -> None:
    """Every pytest run loads the plugin: it must not pull in the engines, the lab or the targets."""
    code = ("import sys, harness.plugin as p, harness.execution.pipeline as q; "
            "print(p.NEGATIVE_CONTROL_ID == q.NEGATIVE_CONTROL_ID)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "True"
    code = "import sys, harness.plugin; print(sorted(m for m in sys.modules if m.startswith(('sigma', 'duckdb', " \
           "'harness.lab', 'harness.rules', 'harness.targets', 'paramiko'))))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"

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


def test_the_negative_control_id_is_defined_once() -> None:
    root = Path(__file__).resolve().parents[2] / "harness"
    places = [str(p.relative_to(root)) for p in root.rglob("*.py") if '"negative-control"' in p.read_text()]
    assert places == ["atomics/model.py"]


def test_plugin_import_is_light() -> None:
    """Every pytest run loads the plugin: it must not pull in the engines, the lab or the targets."""
    code = "import sys, harness.plugin; print(sorted(m for m in sys.modules if m.startswith(('sigma', 'duckdb', " \
           "'harness.lab', 'harness.rules', 'harness.targets', 'paramiko'))))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_malformed_target_is_one_usage_error_at_configure() -> None:
    res = _pytest("atomics/", "--target", "ssh//root@lab-host")
    assert res.returncode == 4, res.stdout + res.stderr
    assert res.stderr.strip() == (
        "ERROR: --target: target URL needs a scheme, as in scheme://user@host:port (one of local, netns, ssh, "
        "vagrant): 'ssh//root@lab-host'"
    )
    assert "collected" not in res.stdout  # nothing was collected, let alone run
    for bad, why in (("gopher://x", "unknown target scheme 'gopher'"), ("ssh://", "ssh target needs a host"),
                     ("ssh://root@h?identity_fle=/k", "unknown option(s) identity_fle"),
                     ("ssh://root@h:99999", "bad port")):
        res = _pytest("atomics/", "--co", "-q", "--target", bad)
        assert res.returncode == 4 and why in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_atomic_arg_follows_harness_run_rules() -> None:
    res = _pytest("atomics/", "--co", "-q", "--replay", str(RECORDING), "--atomic-arg", "target_rnge=198.51.100.0/28")
    assert res.returncode == 4
    assert "ERROR: --atomic-arg: unknown atomic argument 'target_rnge' (did you mean 'target_range'?)" in res.stderr
    assert "known: api_key, asn, domain," in res.stderr
    res = _pytest("atomics/", "--co", "-q", "--replay", str(RECORDING), "--atomic-arg", "asn=abc")
    assert res.returncode == 4 and "input argument asn must be an integer, got 'abc'" in res.stderr
    res = _pytest("atomics/", "--co", "-q", "--replay", str(RECORDING), "--atomic-arg", "asn")
    assert res.returncode == 4 and "--atomic-arg expects NAME=VALUE, got 'asn'" in res.stderr
    assert "--atomic-arg=NAME=VALUE" in _pytest("--help").stdout


def test_atomic_arg_reaches_the_atomics_that_declare_it() -> None:
    from harness.run import ValidationRun

    run = ValidationRun(target="netns://rah", detections=ROOT / "detections", replay=RECORDING,
                        atomic_args={"target_range": "198.51.100.128/28", "asn": "64501"})
    assert run.atomic_args["T1590.005-3"] == {"target_range": "198.51.100.128/28"}
    assert run.atomic_args["T1590.005-5"] == {"asn": "64501"}
    assert run.atomic_args["T1590.005-2"] == {}

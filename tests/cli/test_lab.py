"""``harness lab``: documented exit codes of ``status`` (scripts rely on them) and the wording of
what ``lab down`` removed. No lab is built here: a lab config with a name nothing uses is down."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from harness.lab.takedown import _terminate, leftover_label

REPO = Path(__file__).resolve().parents[2]


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def test_status_exit_codes_are_documented_and_kept(tmp_path: Path) -> None:
    helptext = _harness("lab", "--help").stdout
    assert "status     0 the lab is up and healthy; 1 it is down, or up with problems" in helptext
    default = resources.files("harness.lab").joinpath("default-lab.toml").read_text()
    config = tmp_path / "lab.toml"
    config.write_text(default.replace('name = "rah"', 'name = "i11z"')
                      .replace('state_dir = "/run/recon-harness"', f'state_dir = "{tmp_path / "state"}"'))
    down = _harness("lab", "status", "--lab-config", str(config))
    assert (down.returncode, down.stdout) == (1, "lab i11z: down\n"), down.stderr
    as_json = _harness("lab", "status", "--lab-config", str(config), "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["up"] is False
    broken = _harness("lab", "status", "--lab-config", str(tmp_path / "absent.toml"))
    assert broken.returncode == 2 and "cannot read lab config" in broken.stderr


def test_lab_down_names_a_leftover_process_once() -> None:
    """It said "process process in lab namespace (pid …)"."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/comm").read_text().strip() != "sleep":  # until it has exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        removed: list[str] = []
        _terminate({child.pid: leftover_label(child.pid)}, removed)
        assert removed == [f"process sleep left in a lab namespace (pid {child.pid})"]
        assert child.wait(timeout=5) is not None  # and it was really ended
    finally:
        child.kill()
        child.wait()

"""A run killed with SIGKILL (the phase hook) leaves nothing after `lab down`, not even a canary key.

The Shodan atomic is killed as its cleanup starts: it has written the CLI's key file under
/tmp/atomic-shodan-home and the lab's logs have seen the key in the API requests. After
`harness lab down` no file the harness wrote or left may hold the key in any form, and the
host's audit log must not have it either (the key is never on a command line).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.lab.hoststate import snapshot
from harness.lab.state import ledger_root

from .conftest import REPO, harness

pytestmark = pytest.mark.lab
CFG = load_lab_config()
SHODAN_HOME = Path("/tmp/atomic-shodan-home")


def _holding(canary: str, roots: list[Path]) -> list[str]:
    forms = [canary.encode(), canary.encode().hex().encode(), canary.encode().hex().upper().encode()]
    found = []
    for root in roots:
        for p in [root] if root.is_file() else (root.rglob("*") if root.is_dir() else []):
            if p.is_file() and not p.is_symlink() and any(f in p.read_bytes() for f in forms):
                found.append(str(p))
    return found


def _audit_log() -> Path:
    return EmbeddedLab(CFG).audit_log_path()


def test_killed_run_leaves_no_canary_and_no_residue(tmp_path: Path) -> None:
    EmbeddedLab(CFG).down()
    before = snapshot(CFG)
    audit = _audit_log()
    audit_offset = audit.stat().st_size if audit.exists() else 0
    canary = "CANARY" + secrets.token_hex(12)
    env = {**os.environ, "RECON_HARNESS_CRASH_AT": "cleanup", "SHODAN_API_KEY": canary}
    env.pop("RECON_HARNESS_CRASH_DELAY", None)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "atomics/test_T1590_005_1_shodan.py", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "bt"), "--record", str(out / "record"), "--evidence-dir", str(out / "ev")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, start_new_session=True)
    try:
        assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-2000:]
        # Killed before its cleanup: the key file is really there, so the check below can fail.
        key_file = SHODAN_HOME / ".config" / "shodan" / "api_key"
        assert key_file.read_text() == canary
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        down = harness("lab", "down")
        assert "pending cleanup of T1590.005-1 ran on the target" in down.stdout
    finally:
        EmbeddedLab(CFG).down()
    assert not SHODAN_HOME.exists()
    leftover = before.diff(snapshot(CFG))
    assert not leftover, "\n".join(leftover)
    tmp = Path("/tmp")
    roots = [tmp_path, CFG.state_dir, ledger_root(), *tmp.glob("atomic-*"), *tmp.glob("recon-harness-*"),
             *tmp.glob(".harness-*")]
    assert _holding(canary, roots) == []
    if audit.exists():  # the host's own log: only what was appended during this test
        with open(audit, "rb") as fh:
            fh.seek(audit_offset if audit.stat().st_size >= audit_offset else 0)
            appended = fh.read()
        assert canary.encode() not in appended and canary.encode().hex().upper().encode() not in appended
        assert b"shodan" in appended  # the detonation really was audited


def test_killed_run_on_an_ssh_target_is_undone_by_target_cleanup(tmp_path: Path) -> None:
    """ssh:// (a host the harness did not build): the ledger has the pending cleanup, the scratch
    dir and the testinfra temp dir; `harness target cleanup URL` undoes them over SSH."""
    from harness.lab.lock import lab_lock

    lab = EmbeddedLab(CFG)
    output = Path("/tmp/atomic-nmap-sweep.xml")
    env = {**os.environ, "RECON_HARNESS_STATE_DIR": str(tmp_path / "state")}
    with lab_lock(CFG.name):  # the lab stands in for someone's own lab host; nobody may take it down
        lab.down()
        lab.up()
        try:
            url = lab.ssh_url()
            crash = {**env, "RECON_HARNESS_CRASH_AT": "cleanup"}
            crash.pop("RECON_HARNESS_CRASH_DELAY", None)
            scope = REPO / "harness" / "lab" / "default-lab.toml"  # the lab's [scope]: a real host needs one
            proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "T1590.005-3", "--target", url,
                                   "--scope", str(scope)],
                                  cwd=REPO, env=crash, capture_output=True, text=True, timeout=300,
                                  start_new_session=True)
            assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
            assert output.exists()  # detonated, never cleaned up
            status = harness("target", "status", url, env=env).stdout
            assert "atomic_cleanup T1590.005-3" in status and "target_path " in status
            temp = [line.split(" ", 1)[1] for line in status.splitlines() if line.startswith("tempdir ")]
            assert temp and Path(temp[0]).is_dir()  # testinfra's ssh_config dir on this host
            out = harness("target", "cleanup", url, env=env).stdout
            assert "pending cleanup of T1590.005-3 ran on the target" in out
            assert not output.exists() and not Path(temp[0]).exists()
            assert harness("target", "status", url, env=env).stdout.strip() == "nothing pending"
            assert not any((tmp_path / "state").rglob("state.json"))
        finally:
            lab.down()

"""SIGTERM to a harness process inside ``sigterm_as_interrupt()``: the child it waits on is killed and
its undo path runs (as a `vagrant up` under `harness lab up --lab vagrant`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.lab.shell import sigterm_as_interrupt

CHILD = textwrap.dedent("""
    import subprocess, sys
    from pathlib import Path
    from harness.lab.shell import sigterm_as_interrupt
    out = Path(sys.argv[1])
    try:
        with sigterm_as_interrupt():  # as VagrantLab.up runs `vagrant up`
            subprocess.run(["sh", "-c", f"echo $$ > {out}; exec sleep 60"])
    except KeyboardInterrupt:
        out.write_text(out.read_text().strip() + " undone")
        sys.exit(3)
""")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_sigterm_becomes_an_interrupt_and_the_child_goes(tmp_path: Path) -> None:
    out = tmp_path / "pid"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(out)], cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 20
    while not (out.exists() and out.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(out.read_text())
    assert _alive(child)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=20) == 3
    assert out.read_text().endswith(" undone") and not _alive(child)


def test_the_previous_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before

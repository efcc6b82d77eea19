"""Running host commands for the embedded lab: a failure is a LabError naming the command."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness.errors import LabError


def run_checked(args: Sequence[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LabError(f"`{' '.join(args)}` could not run: {exc}") from exc
    if check and proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise LabError(f"`{' '.join(args)}` failed (rc={proc.returncode}): {detail}")
    return proc


def in_netns(ns: str, *args: str) -> list[str]:
    """``args`` run inside network namespace ``ns``."""
    return ["ip", "netns", "exec", ns, *args]


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_mountpoint(path: Path) -> bool:
    """True when ``path`` is a mount point, bind mounts of the same file system included."""
    target = str(path)
    try:
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 1 and fields[1] == target:
                return True
    except OSError:
        pass
    return os.path.ismount(path)


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"`{action}` needs root: the embedded lab creates network namespaces, veth links, routes, "
            "nft tables and a PAM service. Run it with sudo, or use a lab you already have: "
            "--target ssh://user@host:port?identity_file=KEY (your own lab host) or "
            "--target vagrant://default (the Vagrant lab VM)."
        )


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block, as Ctrl-C does: the undo paths run, and a
    child started with ``subprocess.run`` (a minutes-long ``vagrant up``) is killed on the way out
    instead of outliving its harness. Outside the main thread (no signal handlers there) it does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


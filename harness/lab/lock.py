"""One user of a lab at a time, across processes.

The lock is an abstract-namespace Unix socket bound under the lab's name: nothing is written to
disk, and the kernel releases it when the holder exits, even on SIGKILL, so a crashed run never
leaves a stale lock behind.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from harness.errors import LabError

_held: dict[str, socket.socket] = {}


@contextmanager
def lab_lock(name: str, timeout: float = 600.0) -> Iterator[None]:
    """Hold the lock of lab ``name``; re-entrant within one process."""
    if name in _held:
        yield
        return
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = f"\0recon-harness-lab-{name}"
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            sock.bind(address)
            break
        except OSError:
            if time.monotonic() > deadline:
                sock.close()
                raise LabError(f"lab {name} is in use by another harness process (waited {timeout:.0f}s)") from None
            if not told:
                print(f"harness: lab {name} is in use by another harness process; waiting ...", file=sys.stderr)
                told = True
            time.sleep(0.2)
    _held[name] = sock
    try:
        yield
    finally:
        del _held[name]
        sock.close()

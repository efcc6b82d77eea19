"""A /dev/log listener for a host without a syslog daemon: Sysmon for Linux logs through syslog(3).

Run as its own process by the embedded lab (``python3 -m harness.lab.devlog SOCKET SYSMON_LOG
OTHER_LOG``). It binds the AF_UNIX datagram socket and appends each datagram as one line, exactly
as received (the ``<PRI>`` prefix kept), to SYSMON_LOG when its tag is ``sysmon`` and to OTHER_LOG
otherwise, so the Sysmon log holds nothing but Sysmon's events. It removes its socket when it is
ended (SIGTERM); the lab's state file also records the socket, for a kill -9.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

#: ``<PRI>`` then a BSD timestamp (``Mmm dd hh:mm:ss``), then the tag: ``sysmon:`` or ``sysmon[pid]:``.
_SYSMON_TAG = re.compile(rb"^<\d{1,3}>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d )?sysmon(?:\[\d+\])?: ")
#: Sysmon's events reach several kB; the kernel caps a datagram far above this.
MAX_DATAGRAM = 1 << 20


def is_sysmon(datagram: bytes) -> bool:
    return _SYSMON_TAG.match(datagram) is not None


def as_line(datagram: bytes) -> bytes:
    """One log line: syslog(3) may end a message with NUL or newline, and the file is line-based."""
    return datagram.rstrip(b"\x00\n").replace(b"\n", b" ") + b"\n"


def serve(sock_path: Path, sysmon_log: Path, other_log: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        # Bursts (a process storm) must queue, not block Sysmon for long: a large receive buffer.
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 16 << 20)
    sock.bind(str(sock_path))
    os.chmod(sock_path, 0o666)  # every local process may log, as with a syslog daemon

    def stop(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            sock_path.unlink()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with sysmon_log.open("ab", buffering=0) as out, other_log.open("ab", buffering=0) as other:
        while True:
            data = sock.recv(MAX_DATAGRAM)
            (out if is_sysmon(data) else other).write(as_line(data))


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python3 -m harness.lab.devlog SOCKET SYSMON_LOG OTHER_LOG", file=sys.stderr)
        return 2
    serve(Path(argv[0]), Path(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

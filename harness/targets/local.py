"""``local://``: commands run on this machine through the same wrapper as remote targets."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import TargetError
from harness.targets.base import CommandResult, Target, TargetURL, env_payload, split_marker, wrap_command


class LocalTarget(Target):
    def __init__(self) -> None:
        self.url = "local://"

    @classmethod
    def from_url(cls, url: TargetURL, **_: Any) -> LocalTarget:
        return cls()

    def run(
        self,
        command: str,
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        shell: str = "sh",
    ) -> CommandResult:
        wrapper = wrap_command(command, shell, list(env or {}))
        started = time.time_ns()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", wrapper],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: the whole tree dies on timeout
        )
        timed_out = False
        try:
            out, err = proc.communicate(env_payload(env), timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            out, err = proc.communicate()
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        ended = time.time_ns()
        stderr, pid, ses = split_marker(err.decode(errors="replace"))
        return CommandResult(
            command=command,
            rc=proc.returncode if not timed_out else -int(signal.SIGKILL),
            stdout=out.decode(errors="replace"),
            stderr=stderr,
            started_ns=started,
            ended_ns=ended,
            pid=pid or proc.pid,
            audit_session=ses,
            timed_out=timed_out,
        )

    def read_file(self, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise TargetError(f"local://: cannot read {path}: {exc}") from exc

    def write_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    def remove_file(self, path: str) -> None:
        p = Path(path)
        try:
            if p.is_dir() and not p.is_symlink():
                p.rmdir()
            else:
                p.unlink(missing_ok=True)
        except OSError as exc:
            raise TargetError(f"local://: cannot remove {path}: {exc}") from exc


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)

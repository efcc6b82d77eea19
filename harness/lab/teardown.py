"""Undoing what the state file records, for the embedded lab and for targets the harness did not build.

Three things live here so that ``lab down``, ``harness lab purge`` and ``harness target cleanup``
share them:

* an undo registry: a module that records its own kind of entry (a network step, an installer, a
  sensor) registers how to undo it with :func:`undo_handler` and is named in
  :data:`HANDLER_MODULES`; ``lab down`` and ``harness target cleanup`` dispatch every entry by its
  kind through it;
* :func:`terminate`: ends processes and returns only when each has exited, with a bounded wait
  after SIGKILL too (a process stuck in the kernel is reported, never waited on forever);
* pending atomic cleanups: an atomic that detonated is recorded with its cleanup command before
  it runs; an entry still there at teardown means the run died before cleaning up, and the
  cleanup is run now, on the target.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shlex
import shutil
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.lab.shell import is_mountpoint, run_checked
from harness.lab.state import LabState, Resource, proc_start_time

UndoFn = Callable[[Resource], "str | None"]
#: (command, shell) -> (exit code, output): runs a command on the target of a pending cleanup.
RunFn = Callable[[str, str], tuple[int, str]]

_UNDO: dict[str, UndoFn] = {}

#: The modules that register undo handlers: imported before the first undo, so an entry is undone
#: whether or not its module was loaded in this process (a `lab down` after a crash).
HANDLER_MODULES = (
    "harness.lab.network",
    "harness.lab.provision",
    "harness.lab.auditctl",
    "harness.lab.sysmon",
)

#: Kinds that run on a target, undone by :func:`undo_on_target`, not by the host registry.
TARGET_KINDS = ("atomic_cleanup", "target_path", "target_audit_rule")


def undo_handler(kind: str) -> Callable[[UndoFn], UndoFn]:
    """Register how entries of ``kind`` are undone (returns a message, or None when nothing was left)."""

    def register(fn: UndoFn) -> UndoFn:
        _UNDO[kind] = fn
        return fn

    return register


def _load_handlers() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)


def has_handler(kind: str) -> bool:
    _load_handlers()
    return kind in _UNDO


def undo(res: Resource) -> str | None:
    """Undo one entry by its kind; None when nothing was left (or the kind has nothing to undo)."""
    _load_handlers()
    fn = _UNDO.get(res.kind)
    return fn(res) if fn is not None else None


@undo_handler("tempdir")
def _undo_tempdir(res: Resource) -> str | None:
    p = Path(res.name)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
        return f"temp dir {p}"
    if p.exists() or p.is_symlink():
        p.unlink()
        return f"temp file {p}"
    return None


@undo_handler("file")
def _undo_file(res: Resource) -> str | None:
    p = Path(res.name)
    if p.exists() or p.is_symlink():
        p.unlink()
        return f"file {res.name}"
    return None


@undo_handler("dir")
def _undo_dir(res: Resource) -> str | None:
    p = Path(res.name)
    if res.data.get("only_if_empty"):
        if p.is_dir() and not any(p.iterdir()):
            if is_mountpoint(p):  # iproute2 bind-mounts /run/netns onto itself
                run_checked(["umount", str(p)])
            p.rmdir()
            return f"dir {res.name}"
        return None
    if p.exists():
        shutil.rmtree(p)
        return f"dir {res.name}"
    return None


# Processes -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ended:
    """What :func:`terminate` did: processes ended, and those still alive when the wait ran out."""

    ended: tuple[str, ...]
    survivors: tuple[str, ...]


def _alive(pid: int, start: int | None) -> bool:
    now = proc_start_time(pid)
    return now is not None and now == start


def _wait_gone(pids: Iterable[int], starts: dict[int, int | None], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _alive(p, starts[p])]
    while left and time.monotonic() < deadline:
        for p in left:  # reap our own children (zombies count as gone, but do not keep them)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(p, os.WNOHANG)
        time.sleep(0.05)
        left = [p for p in left if _alive(p, starts[p])]
    return left


def terminate(pids: dict[int, str], grace_s: float = 3.0, kill_wait_s: float = 5.0) -> Ended:
    """SIGTERM, wait up to ``grace_s``, SIGKILL the rest, wait up to ``kill_wait_s`` until each has exited.

    Each pid is ended only while it still has the start time it had when we were called, so a
    recycled pid is never signalled.
    """
    starts = {pid: proc_start_time(pid) for pid in pids}
    live = [p for p in pids if starts[p] is not None]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    left = _wait_gone(live, starts, grace_s)
    for pid in left:
        if _alive(pid, starts[pid]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    stuck = _wait_gone(left, starts, kill_wait_s)
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    ended = tuple(f"process {pids[p]} (pid {p})" for p in live if p not in stuck)
    survivors = tuple(f"process {pids[p]} (pid {p}) still running {kill_wait_s:g}s after SIGKILL" for p in stuck)
    return Ended(ended, survivors)


# Targets ---------------------------------------------------------------------------------------
def undo_on_target(res: Resource, run: RunFn) -> str | None:
    """Undo one target-side entry with ``run`` (the target's shell). Raises OSError on failure."""
    if res.kind == "atomic_cleanup":
        if res.data.get("redacted"):
            raise OSError(f"pending cleanup of {res.name} held a secret, so the state file has it redacted; "
                          f"run it by hand: {res.data['command']}")
        rc, out = run(str(res.data["command"]), str(res.data.get("shell") or "sh"))
        if rc != 0:
            raise OSError(f"pending cleanup of {res.name} exited {rc}: {out.strip()[:200]}")
        return f"pending cleanup of {res.name} ran on the target (detonated, never cleaned up)"
    if res.kind == "target_audit_rule":
        # the harness's keyed rule on a host it did not build (harness.execution.host_sensors)
        fields = [str(f) for f in res.data.get("fields") or []]
        if not fields or not any(f.startswith("key=") for f in fields):
            raise OSError(f"refusing to delete audit rule {res.name!r}: it carries no key of the harness")
        rc, out = run("auditctl -d " + " ".join(shlex.quote(f) for f in fields), "sh")
        if rc != 0 and "No rule matches" not in out:
            raise OSError(f"could not delete audit rule {res.name} on the target: {out.strip()[:200]}")
        return f"audit rule {res.name} on the target" if rc == 0 else None
    if res.kind == "target_path":
        path = res.name
        if not path.startswith("/") or path.rstrip("/") in ("", "/tmp", "/root", "/home", "/etc", "/opt"):
            raise OSError(f"refusing to remove {path!r} on the target")
        q = shlex.quote(path)
        rc, out = run(f"if [ -e {q} ] || [ -L {q} ]; then rm -rf -- {q} && echo removed; fi", "sh")
        if rc != 0:
            raise OSError(f"could not remove {path} on the target: {out.strip()[:200]}")
        return f"{path} on the target" if "removed" in out else None
    return None


def undo_target_entries(state: LabState, run: RunFn) -> tuple[list[str], list[str]]:
    """Run every pending target-side entry of ``state`` (newest first), forgetting each one done.

    Returns (what was done, errors). An entry that failed stays in the state file for the next try.
    """
    done: list[str] = []
    errors: list[str] = []
    for res in reversed(list(state.resources)):
        if res.kind not in TARGET_KINDS:
            continue
        try:
            msg = undo_on_target(res, run)
        except OSError as exc:
            errors.append(str(exc))
            continue
        state.discard(res)
        if msg:
            done.append(msg)
    return done, errors

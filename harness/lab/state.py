"""The state file: everything a run or a lab creates or changes, written BEFORE each step.

It is the single source of truth for teardown: ``lab down`` (embedded lab) and ``harness target
cleanup`` (any other target) read it back and undo each entry in reverse order, after a crash too.
Processes are ended only when their pid still belongs to the process we started (same start
time), never by name.

API for other modules (installers, sensors, the runner)::

    state = LabState.open(state_dir, "rah")          # or LabState.load(state_dir)
    res = state.record("install", "theHarvester", paths=[...], before=None)   # before the step
    ... take the step ...
    state.discard(res)                                # only when the run undid it itself
    tmp = state.tempdir("recon-harness-telemetry-")   # recorded, then created (0700)

``kind`` decides how an entry is undone: the embedded lab knows its own kinds; any other kind
registers an undo function with :func:`harness.lab.teardown.undo_handler`.
Several LabState objects (the lab's, a run's ledger) may write the same file one after another in
one process or, under the lab lock, across processes: each write merges with what is on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat), or None.

    A zombie counts as gone: it has exited and only waits for its parent to reap it.
    """
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(")") + 2 :].split()
    try:
        if rest[0] in ("Z", "X"):
            return None
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def boot_ticks() -> int:
    """Now, in the unit of :func:`proc_start_time` (clock ticks since boot)."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return int(uptime * os.sysconf("SC_CLK_TCK"))


@dataclass
class Resource:
    """One thing a run or lab created or changed. ``kind`` decides how it is undone."""

    # netns | link | route | nft_table | file | dir | process | process_starting | audit_rule |
    # audit_settings | tool_venv | venv_ca | tempdir | atomic_cleanup | target_path | (kinds other
    # modules register with harness.lab.teardown.undo_handler)
    kind: str
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""


def _key(res: Resource) -> str:
    return res.id or f"{res.kind}\0{res.name}"


@dataclass
class LabState:
    path: Path
    lab_name: str
    resources: list[Resource] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    # True when read from disk: a file that has vanished since was removed by a teardown, so its
    # entries must not be written back.
    from_disk: bool = False
    # A target's ledger disappears once nothing is pending: a normal run leaves no file behind.
    remove_when_empty: bool = False

    @classmethod
    def load(cls, state_dir: Path) -> LabState | None:
        path = state_dir / STATE_FILE
        doc = _read(path)
        if doc is None:
            return None
        return cls(path=path, lab_name=doc.get("lab_name", ""),
                   resources=[Resource(**r) for r in doc.get("resources", [])], info=doc.get("info", {}),
                   from_disk=True)

    @classmethod
    def open(cls, state_dir: Path, lab_name: str) -> LabState:
        """The state in ``state_dir``, or a new one (written at its first record)."""
        return cls.load(state_dir) or cls(state_dir / STATE_FILE, lab_name)

    def _merge_disk(self) -> None:
        doc = _read(self.path)
        if doc is None:
            if self.from_disk:
                self.resources = []  # torn down meanwhile: what we knew is gone
            return
        disk = [Resource(**r) for r in doc.get("resources", [])]
        disk_keys = {_key(r) for r in disk}
        # Disk order first (the creation order teardown reverses), then what only we know.
        self.resources = disk + [r for r in self.resources if _key(r) not in disk_keys]
        self.info = {**doc.get("info", {}), **self.info}

    def save(self) -> None:
        if self.remove_when_empty and not self.resources:
            self.path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.path.parent.rmdir()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"lab_name": self.lab_name, "resources": [asdict(r) for r in self.resources],
                       "info": self.info}, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.from_disk = True

    def record(self, kind: str, name: str, **data: Any) -> Resource:
        """Record a resource BEFORE creating it, so an interrupted creation is still undone."""
        res = Resource(kind, name, dict(data), id=secrets.token_hex(6))
        self._merge_disk()
        self.resources.append(res)
        self.save()
        return res

    def discard(self, res: Resource) -> None:
        """Forget ``res`` once the run itself has undone it (nothing is left for teardown)."""
        self._merge_disk()
        self.resources = [r for r in self.resources if _key(r) != _key(res)]
        self.save()

    def record_process(self, name: str, pid: int) -> Resource:
        return self.record("process", name, pid=pid, start_time=proc_start_time(pid))

    def tempdir(self, prefix: str, parent: str | Path | None = None) -> Path:
        """A private temp dir on this host: recorded first, then created (mode 0700)."""
        base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
        path = base / f"{prefix}{secrets.token_hex(6)}"
        self.record("tempdir", str(path))
        path.mkdir(mode=0o700)
        return path

    def remove_tempdir(self, path: Path) -> None:
        """Remove a temp dir made by :meth:`tempdir` and forget it."""
        import shutil

        shutil.rmtree(path, ignore_errors=True)
        self._merge_disk()
        left = [r for r in self.resources if r.kind == "tempdir" and r.name == str(path)]
        if left:
            self.resources = [r for r in self.resources if r not in left]
            self.save()


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def ledger_root() -> Path:
    """Where ledgers of targets the harness did not build live (persistent: a target outlives a reboot
    of the controller). ``RECON_HARNESS_STATE_DIR`` overrides."""
    env = os.environ.get("RECON_HARNESS_STATE_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/recon-harness")
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "recon-harness"


def target_key(url: str) -> str:
    """A file-name-safe key of a target URL without its options (identity file, known hosts)."""
    import hashlib

    bare = url.split("?", 1)[0]
    slug = "".join(c if c.isalnum() else "_" for c in bare)[:60]
    return f"{slug}-{hashlib.sha256(bare.encode()).hexdigest()[:10]}"


def target_state(url: str) -> LabState:
    """The ledger of a target the harness did not build (ssh://, local://, vagrant://)."""
    state = LabState.open(ledger_root() / "targets" / target_key(url), f"target {url.split('?', 1)[0]}")
    state.remove_when_empty = True
    return state

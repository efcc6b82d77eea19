"""The lab's state file: everything a lab created, written before each step so a crash is recoverable.

``lab down`` reads it back and undoes each entry in reverse order; processes are ended only when
their pid still belongs to the process we started (same start time), never by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(")") + 2 :].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


@dataclass
class Resource:
    """One thing the lab created. ``kind`` decides how it is undone."""

    kind: str  # netns | link | route | nft_table | file | dir | process | audit_rule | sysctl | tool_venv | venv_ca
    name: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabState:
    path: Path
    lab_name: str
    resources: list[Resource] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path) -> LabState | None:
        path = state_dir / STATE_FILE
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls(
            path=path,
            lab_name=doc.get("lab_name", ""),
            resources=[Resource(**r) for r in doc.get("resources", [])],
            info=doc.get("info", {}),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"lab_name": self.lab_name, "resources": [asdict(r) for r in self.resources], "info": self.info},
                indent=2,
            )
        )
        os.replace(tmp, self.path)

    def record(self, kind: str, name: str, **data: Any) -> Resource:
        """Record a resource BEFORE creating it, so an interrupted creation is still undone."""
        res = Resource(kind, name, dict(data))
        self.resources.append(res)
        self.save()
        return res

    def record_process(self, name: str, pid: int) -> None:
        self.record("process", name, pid=pid, start_time=proc_start_time(pid))

"""Reading the saved telemetry layout (``harness run --telemetry DIR``, ``--record DIR``) back, for
replays: the detection half runs again on it without root and without a lab.

Committed recordings may gzip their files (``sigma.jsonl.gz``, ``raw/auditd.log.gz``): the same
layout, a tenth of the size.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import ConfigError, SourceLocation
from harness.records import RunRecord, as_run_record
from harness.views.events import DefenderRecord, SigmaEvent, as_defender_record, as_sigma_event

T = TypeVar("T")


@dataclass(frozen=True)
class RecordedDetonation:
    """One ``DIR/<run-id>/<atomic-id>/`` directory."""

    atomic_id: str
    directory: Path
    manifest: dict[str, Any]  # the rest of manifest.json (counts, sensors...): JSON as written
    run: RunRecord
    sigma: list[SigmaEvent]
    defender: list[DefenderRecord]

    @property
    def status(self) -> str:
        return self.run["status"]

    @property
    def reason(self) -> str:
        return self.run["reason"]

    @property
    def sensors(self) -> list[dict[str, Any]]:
        return list(self.manifest.get("sensors") or [])



def latest_time(run: RunRecord, sigma: Sequence[SigmaEvent]) -> dt.datetime | None:
    """The newest instant of a detonation (its commands' ends, its Sigma events' times), live or
    replayed: KQL's now() is pinned to it."""
    stamps = [c["ended"] for c in run["commands"] if c.get("ended")]
    stamps += [t for e in sigma if "meta" in e and (t := e["meta"].get("time"))]
    parsed = [p for s in stamps if (p := parse_utc(s)) is not None]
    return max(parsed) if parsed else None


def parse_utc(text: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _jsonl(path: Path, shape: Callable[[object], T | None], what: str) -> list[T]:
    """Rows of a JSONL file, or of its gzip-compressed twin ``<name>.gz`` (committed recordings),
    each checked to have the view's shape (``what``)."""
    out: list[T] = []
    if not path.exists():
        gz = path.with_name(path.name + ".gz")
        if not gz.exists():
            return out
        path = gz
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"invalid JSON line in recorded telemetry: {exc}", SourceLocation(str(path), n, 1)) \
                    from exc
            item = shape(value)
            if item is None:
                raise ConfigError(f"not a {what} in recorded telemetry", SourceLocation(str(path), n, 1))
            out.append(item)
    return out


def run_directory(base: Path) -> Path:
    """``base`` itself when it holds atomic directories, else its newest ``<run-id>`` directory."""
    base = Path(base)
    if not base.is_dir():
        raise ConfigError(f"replay directory not found: {base}")
    if any((p / "manifest.json").is_file() for p in base.iterdir() if p.is_dir()):
        return base
    runs = sorted(p for p in base.iterdir() if p.is_dir() and any((q / "manifest.json").is_file()
                                                                   for q in p.iterdir() if q.is_dir()))
    if not runs:
        raise ConfigError(f"no recorded run under {base} (expected {base}/<run-id>/<atomic-id>/manifest.json)")
    return runs[-1]


def load_detonation(directory: Path) -> RecordedDetonation:
    mpath = directory / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {mpath}: {exc}", SourceLocation(str(mpath))) from exc
    run = as_run_record(manifest.get("atomic") if isinstance(manifest, dict) else None)
    if run is None:
        raise ConfigError(f'{mpath}: "atomic" is not a run record (an object with string "id" and "status")',
                          SourceLocation(str(mpath)))
    return RecordedDetonation(
        directory.name, directory, manifest, run,
        _jsonl(directory / "sigma.jsonl", as_sigma_event, 'Sigma event ({"logsource", "event", "meta"})'),
        _jsonl(directory / "defender.jsonl", as_defender_record, 'Defender record ({"table", "row"})'))


def load_run(base: Path) -> Iterator[RecordedDetonation]:
    """Every recorded detonation of the (newest) run under ``base``, in directory order."""
    run = run_directory(base)
    for d in sorted(p for p in run.iterdir() if p.is_dir() and (p / "manifest.json").is_file()):
        yield load_detonation(d)

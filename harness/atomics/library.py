"""A whole ``atomics/`` tree (Atomic Red Team's layout, ``<T>/<T>.yaml``) loaded file by file.

A file that cannot load is kept as its located errors and the rest of the tree still loads, so one
broken upstream file never hides the other 340. Technique filters are applied to the file names
before anything is parsed, so ``--technique T1003`` reads only that technique's files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.atomics.loader import load
from harness.atomics.model import AtomicTest, Technique, TechniqueSignals
from harness.errors import ConfigError, ErrorCollection, HarnessError

__all__ = ["Library", "LibraryTest", "load_library", "technique_files", "technique_matches"]

_TECHNIQUE_FILE = re.compile(r"(T\d{4}(?:\.\d{3})?)\.yaml")


@dataclass(frozen=True)
class LibraryTest:
    """One test of the library with the technique (and sidecar) it belongs to."""

    test: AtomicTest
    technique: Technique
    signals: TechniqueSignals

    @property
    def not_applicable(self) -> str | None:
        return self.test.not_applicable()


@dataclass(frozen=True)
class Library:
    """What a tree held: the techniques that loaded and the located errors of those that did not."""

    root: str
    files: tuple[str, ...]
    techniques: tuple[tuple[Technique, TechniqueSignals], ...]
    errors: tuple[HarnessError, ...]
    failed_files: tuple[str, ...]

    def tests(
        self, platform: str | None = None, executors: Iterable[str] = (), *, runnable_only: bool = False
    ) -> list[LibraryTest]:
        """Tests in file order; ``platform`` None means every platform, no executors means any."""
        wanted = {e.lower() for e in executors}
        out: list[LibraryTest] = []
        for technique, signals in self.techniques:
            for test in technique.atomic_tests:
                if platform is not None and platform not in test.supported_platforms:
                    continue
                if wanted and test.executor.name not in wanted:
                    continue
                if runnable_only and test.not_applicable() is not None:
                    continue
                out.append(LibraryTest(test, technique, signals))
        return out

    def find(self, id_or_guid: str) -> LibraryTest:
        """The test named by id (``T1003.008-1``) or GUID anywhere in the library; ConfigError if none."""
        key = id_or_guid.strip().lower()
        for technique, signals in self.techniques:
            for test in technique.atomic_tests:
                if key in (test.id.lower(), test.guid.lower()):
                    return LibraryTest(test, technique, signals)
        raise ConfigError(
            f"no atomic test {id_or_guid!r} in {self.root} "
            f"({len(self.techniques)} technique file(s) loaded); give an id like T1003.008-1 or a GUID"
        )


def technique_matches(technique_id: str, filters: Sequence[str]) -> bool:
    """Whether ``technique_id`` is one of ``filters`` or a sub-technique of one (T1003 -> T1003.008)."""
    if not filters:
        return True
    tid = technique_id.upper()
    return any(tid == f.upper() or tid.startswith(f.upper() + ".") for f in filters)


def technique_files(root: str | Path, techniques: Sequence[str] = ()) -> list[Path]:
    """Technique files under ``root`` in ART's layout (``T1003.008/T1003.008.yaml``), sorted by id.

    ``root`` may be an ``atomics/`` folder, a checkout holding one, one technique's folder or one
    file. Sidecars (``.signals.yaml``), indexes and payloads are not technique files.
    """
    path = Path(root)
    if path.is_file():
        return [path] if technique_matches(path.stem, techniques) else []
    if not path.is_dir():
        raise ConfigError(f"atomics path {str(path)!r} is neither a technique file nor a directory")
    found: list[Path] = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        name = Path(folder).name
        match = _TECHNIQUE_FILE.fullmatch(name + ".yaml")
        if match and f"{name}.yaml" in files and technique_matches(name, techniques):
            found.append(Path(folder) / f"{name}.yaml")
    return sorted(found, key=lambda p: _sort_key(p.stem))


def _sort_key(technique_id: str) -> tuple[int, int]:
    number, _, sub = technique_id[1:].partition(".")
    return int(number), int(sub or -1)


def load_library(root: str | Path, techniques: Sequence[str] = ()) -> Library:
    """Load every technique file under ``root`` (those ``techniques`` selects), each with its sidecar
    if it has one; a file that fails is recorded with its located errors, the others still load."""
    files = technique_files(root, techniques)
    if not files:
        selected = f" for {', '.join(techniques)}" if techniques else ""
        raise ConfigError(f"no technique files (<T>/<T>.yaml){selected} under {root}")
    loaded: list[tuple[Technique, TechniqueSignals]] = []
    errors: list[HarnessError] = []
    failed: list[str] = []
    for file in files:
        try:
            loaded.append(load(file, sidecar_optional=True))
        except ErrorCollection as exc:
            errors.extend(exc.errors)
            failed.append(str(file))
    return Library(str(root), tuple(str(f) for f in files), tuple(loaded), tuple(errors), tuple(failed))

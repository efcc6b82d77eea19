"""Load an atomic technique with its signals sidecar, and find this checkout's own atomics.

The two file loaders live apart (:mod:`harness.atomics.technique` for Atomic Red Team files,
:mod:`harness.atomics.signals` for the sidecar); this module pairs them and keeps the names the rest
of the harness imports.
"""

from __future__ import annotations

from pathlib import Path

from harness.atomics.model import AtomicTest, Technique, TechniqueSignals
from harness.atomics.signals import load_signals, signals_path, signals_schema, signals_structure_problems
from harness.atomics.technique import load_technique
from harness.errors import ErrorCollection, HarnessError

__all__ = [
    "default_technique_path",
    "find",
    "load",
    "load_signals",
    "load_technique",
    "project_atomics_dirs",
    "repo_root",
    "signals_path",
    "signals_schema",
    "signals_structure_problems",
]


def find(technique: Technique, id_or_guid: str) -> AtomicTest:
    """The test of ``technique`` named by id (``T1590.005-2``), position (``2``) or GUID."""
    return technique.find(id_or_guid)


def load(technique_path: str | Path, *, sidecar_optional: bool = False) -> tuple[Technique, TechniqueSignals]:
    """Load a technique and the signals sidecar beside it (the sidecar is checked against it).

    With ``sidecar_optional`` a technique without a sidecar (any upstream Atomic Red Team file)
    loads with no expectations (:attr:`TechniqueSignals.declared` is false); otherwise the missing
    sidecar is an error, so a suite never passes on signals that were silently dropped.

    When the technique itself is invalid the sidecar cannot be cross-checked, but its structure
    still is (JSON Schema, located through the YAML nodes), so one run reports both files' problems.
    """
    sidecar = signals_path(technique_path)
    try:
        technique = load_technique(technique_path)
    except ErrorCollection as exc:
        extra: list[HarnessError] = list(signals_structure_problems(sidecar)) if sidecar.exists() else []
        raise ErrorCollection([*exc.errors, *extra]) from None
    if sidecar_optional and not sidecar.exists():
        return technique, TechniqueSignals(technique.attack_technique, {})
    return technique, load_signals(sidecar, technique)


def project_atomics_dirs() -> tuple[Path, ...]:
    """The ``atomics/`` folder of the checkout this harness runs from, if it has one.

    Only the harness's own checkout counts, never the working directory: run from inside a clone
    of upstream's library, its ``atomics/`` must not pass for this project's curated atomics.
    """
    folder = (Path(__file__).resolve().parents[2] / "atomics").resolve()
    return (folder,) if folder.is_dir() else ()


#: The technique file of this project, relative to a checkout.
TECHNIQUE_FILE = Path("atomics") / "T1590.005" / "T1590.005.yaml"


def _checkout() -> Path | None:
    """The checkout holding atomics/ and detections/: the working directory first, then beside the package."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (base / TECHNIQUE_FILE).exists():
            return base
    return None


def repo_root() -> Path:
    """The checkout holding atomics/ and detections/ (the working directory when none is found)."""
    return _checkout() or Path.cwd()


def default_technique_path() -> Path:
    """``atomics/T1590.005/T1590.005.yaml`` of this checkout (relative when no checkout is found)."""
    root = _checkout()
    return root / TECHNIQUE_FILE if root is not None else TECHNIQUE_FILE

"""Atomic definitions: the ART model, its location-aware loader, expected signals and generated docs."""

from harness.atomics.loader import (
    default_technique_path,
    find,
    load,
    load_signals,
    load_technique,
    signals_path,
)
from harness.atomics.model import (
    AtomicTest,
    Dependency,
    Detections,
    Executor,
    Expectation,
    FieldCondition,
    InputArgument,
    KqlExpectation,
    Match,
    Signal,
    Technique,
    TechniqueSignals,
)

__all__ = [
    "AtomicTest",
    "Dependency",
    "Detections",
    "Executor",
    "Expectation",
    "FieldCondition",
    "InputArgument",
    "KqlExpectation",
    "Match",
    "Signal",
    "Technique",
    "TechniqueSignals",
    "default_technique_path",
    "find",
    "load",
    "load_signals",
    "load_technique",
    "signals_path",
]

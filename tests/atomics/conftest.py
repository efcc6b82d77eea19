"""Shared fixtures for the atomics tests: the shipped files and a way to locate text in YAML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TECHNIQUE = ROOT / "atomics" / "T1590.005" / "T1590.005.yaml"
SIGNALS = ROOT / "atomics" / "T1590.005" / "T1590.005.signals.yaml"

Locate = Callable[..., tuple[int, int]]


def _locate(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the ``occurrence``-th ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


@pytest.fixture
def locate() -> Locate:
    return _locate


@pytest.fixture
def technique_path() -> Path:
    return TECHNIQUE


@pytest.fixture
def signals_path() -> Path:
    return SIGNALS


@pytest.fixture
def repo_root() -> Path:
    return ROOT

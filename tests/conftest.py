"""Fixtures shared across test packages."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.telemetry.parsers import open_lines

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_audit_lines(tmp_path: Path) -> Callable[[int], list[str]]:
    """Lines of the audit-parse benchmark's generated log (bench/bench_audit_parse.py), ``size``
    bytes of it: the realistic mix the throughput floor is measured on."""
    spec = importlib.util.spec_from_file_location("bench_audit_parse", REPO / "bench" / "bench_audit_parse.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def make(size: int) -> list[str]:
        path = tmp_path / f"bench-audit-{size}.log"
        mod.generate(path, size)
        return list(open_lines(path))

    return make

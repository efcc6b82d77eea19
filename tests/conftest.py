"""Fixtures shared across test packages."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.telemetry.parsers import open_lines

REPO = Path(__file__).resolve().parents[1]
_BASETEMP = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """tmp_path fixtures live in one directory of this session, removed when it ends: the suite
    leaves nothing in /tmp (pytest's default keeps the last three sessions' directories)."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        base = Path(tempfile.mkdtemp(prefix="pytest-recon-harness-"))
        config.stash[_BASETEMP] = base
        config.option.basetemp = str(base)


def pytest_unconfigure(config: pytest.Config) -> None:
    base = config.stash.get(_BASETEMP, None)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


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

"""The console script's subcommand discovery."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from harness import cli


def test_a_broken_subcommand_module_does_not_break_the_others(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.import_module

    def flaky(name: str, package: Any = None) -> Any:
        if name == "harness.cli.kql":
            raise ImportError("duckdb is missing")
        return real(name, package)

    monkeypatch.setattr("harness.cli.importlib.import_module", flaky)
    assert cli.main(["kql", "print 1"]) == 2
    assert "the 'kql' subcommand cannot load (ImportError: duckdb is missing)" in capsys.readouterr().err
    assert cli.main(["list"]) == 0  # atomics still work
    assert "T1590.005-1" in capsys.readouterr().out

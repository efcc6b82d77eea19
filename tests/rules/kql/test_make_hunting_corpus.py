"""The corpus extractor (tests/data/kql/make_hunting_corpus.py) splits blocks as a user copies queries."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "data" / "kql" / "make_hunting_corpus.py"


def extractor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_hunting_corpus", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_markdown_heading_line_separates_two_queries() -> None:
    block = ("DeviceProcessEvents\n| where A == 1\n\n#This query looks for reg\n"
             "let x = 1;\nDeviceProcessEvents\n| where B == 2\n")
    assert extractor().split_queries(block) == ["DeviceProcessEvents\n| where A == 1\n",
                                                "let x = 1;\nDeviceProcessEvents\n| where B == 2\n"]


def test_a_tabular_statement_closed_by_a_semicolon_is_complete_but_a_let_is_not() -> None:
    block = ("let a = 1;\nEmailEvents\n| project X;\n\n// next\nlet b = 2;\nDeviceFileEvents\n| take 1\n")
    out = extractor().split_queries(block)
    assert out == ["let a = 1;\nEmailEvents\n| project X;\n", "// next\nlet b = 2;\nDeviceFileEvents\n| take 1\n"]
    lets = "let a = DeviceEvents\n| take 1;\n\nlet b = 2;\nDeviceEvents\n"
    assert extractor().split_queries(lets) == [lets.strip() + "\n"]


def test_a_fragment_opening_with_a_pipe_is_not_a_query() -> None:
    assert extractor().split_queries("| join kind=leftouter (DeviceEvents) on DeviceId\n") == []

"""Helpers for the Sigma engine tests: build an engine from inline YAML and match events."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.rules.sigma import SigmaEngine

_counter = itertools.count()

EngineFactory = Callable[..., SigmaEngine]


@pytest.fixture
def make_engine(tmp_path: Path) -> EngineFactory:
    """``make_engine(yaml_text, ..., placeholders=...)``: write each rule to a file and load them."""

    def build(*texts: str, placeholders: Mapping[str, list[str]] | None = None) -> SigmaEngine:
        paths = []
        for text in texts:
            path = tmp_path / f"rule_{next(_counter)}.yml"
            path.write_text(textwrap.dedent(text))
            paths.append(path)
        return SigmaEngine.from_paths(paths, placeholders=placeholders)

    return build


def _detection_rule(detection: str, logsource: str = "product: test") -> str:
    """A minimal valid rule around an inline ``detection`` block (already indented by 4)."""
    return (
        "title: conformance\n"
        f"id: 5a6f2d8e-{next(_counter):04d}-4a4a-8a8a-000000000000\n"
        "status: test\n"
        f"logsource:\n    {logsource}\n"
        "detection:\n" + textwrap.indent(textwrap.dedent(detection).strip("\n"), "    ") + "\n"
        "level: low\n"
    )


def _records(events: Sequence[Mapping[str, Any]], logsource: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    ls = dict(logsource or {"product": "test"})
    return [{"logsource": ls, "event": dict(e)} for e in events]


@pytest.fixture
def match_detection(make_engine: EngineFactory) -> Callable[..., list[int]]:
    """``match_detection(detection_yaml, events)`` -> indexes of the events the rule matches."""

    def run(
        detection: str,
        events: Sequence[Mapping[str, Any]],
        placeholders: Mapping[str, list[str]] | None = None,
    ) -> list[int]:
        engine = make_engine(_detection_rule(detection), placeholders=placeholders)
        assert not engine.problems, [str(p) for p in engine.problems]
        assert len(engine.rules) == 1
        return [m.index for m in engine.match(_records(events))]

    return run

"""Real hunting queries (tests/data/kql/hunting/) must run on empty tables of the schema.

The floor is 90% of the corpus; the figure and the histogram of failure reasons are printed
(``pytest -s``) and every failure must be a deliberate RuleError/UnsupportedError, never an
engine-internal crash.
"""

from __future__ import annotations

import collections
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import RuleError, UnsupportedError
from harness.rules.kql import KqlEngine

CORPUS = Path(__file__).resolve().parents[2] / "data" / "kql" / "hunting"
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def run_corpus() -> tuple[int, dict[str, str]]:
    files = sorted(CORPUS.glob("*.kql"))
    failures: dict[str, str] = {}
    engine = KqlEngine()
    for f in files:
        try:
            engine.run(f.read_text(encoding="utf-8"), f.name, NOW)
        except RuleError as exc:
            failures[f.name] = f"{type(exc).__name__}: {exc.message}"
    return len(files), failures


def reason(msg: str) -> str:
    return re.sub(r"'[^']*'", "'…'", msg.split(":", 1)[1].strip()) if ":" in msg else msg


def test_hunting_corpus_success_rate() -> None:
    total, failures = run_corpus()
    assert total >= 150, f"the corpus should hold at least 150 queries, has {total}"
    ok = total - len(failures)
    hist = collections.Counter(f.split(":")[0] + ": " + reason(f) for f in failures.values())
    print(f"\nhunting corpus: {ok}/{total} ran ({100.0 * ok / total:.1f}%)")
    for name, msg in sorted(failures.items()):
        print(f"  FAIL {name}: {msg}")
    for r, n in hist.most_common():
        print(f"  {n:3d}  {r}")
    assert ok / total >= 0.90


@pytest.mark.parametrize("text", ["DeviceProcessEvents | evaluate bag_unpack(AdditionalFields)",
                                  "DeviceProcessEvents | make-series count() on Timestamp step 1h"])
def test_unsupported_operators_raise_unsupported(text: str) -> None:
    with pytest.raises(UnsupportedError):
        KqlEngine().run(text, "<q>", NOW)

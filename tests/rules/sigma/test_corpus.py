"""The whole SigmaHQ corpus loads (>= 99 % compile, every failure with a precise reason), and
SigmaHQ's own regression samples match their rules the number of times info.yml says."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.rules.sigma import SigmaEngine

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "sigmahq"
SAMPLES = DATA / "regression-samples"
SAMPLE_RULES = DATA / "rules"  # the rules the samples test, copied from the corpus
#: The whole corpus is not in the repository: CI has it in ../shared; anyone can point at a checkout.
CORPUS = Path(os.environ.get("RECON_HARNESS_SIGMAHQ_RULES") or REPO.parent / "shared" / "data" / "sigmahq" / "rules")
needs_corpus = pytest.mark.skipif(
    not CORPUS.is_dir(),
    reason=f"the whole SigmaHQ corpus is not at {CORPUS}: set RECON_HARNESS_SIGMAHQ_RULES to the rules/ folder of "
    "a SigmaHQ/sigma checkout at 8eaafff1 (see tests/data/sigmahq/PROVENANCE.md)",
)


@pytest.fixture(scope="module")
def corpus_engine() -> SigmaEngine:
    return SigmaEngine.from_paths([CORPUS])


@needs_corpus
def test_corpus_compiles(corpus_engine: SigmaEngine) -> None:
    files = sum(1 for p in CORPUS.rglob("*") if p.suffix in (".yml", ".yaml"))
    compiled = len(corpus_engine.rules) + len(corpus_engine.correlations)
    assert files > 3000
    assert compiled / files >= 0.99, Counter(p.kind for p in corpus_engine.problems)
    for problem in corpus_engine.problems:  # every failure is precise: file, line, column, reason
        assert problem.location.path and problem.location.line and problem.location.column, str(problem)
        assert problem.reason.strip(), str(problem)


@needs_corpus
def test_corpus_matches_nothing_on_empty_events(corpus_engine: SigmaEngine) -> None:
    """Evaluating every rule on a bare event of every log source must not crash."""
    sources = {r.logsource for r in corpus_engine.rules}
    records = [
        {"logsource": {"product": s.product, "category": s.category, "service": s.service}, "event": {}}
        for s in sources
    ]
    list(corpus_engine.match(records))
    assert corpus_engine.stats.events == len(records)


# --- regression samples -------------------------------------------------------------------------

SYSMON_CATEGORIES = {
    1: {"process_creation"},
    3: {"network_connection"},
    7: {"image_load"},
    11: {"file_event"},
    12: {"registry_add", "registry_delete", "registry_event"},
    13: {"registry_set", "registry_event"},
    14: {"registry_rename", "registry_event"},
    22: {"dns_query"},
}


def _json_documents(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while True:
        rest = text[i:].lstrip()
        if not rest:
            return out
        obj, end = decoder.raw_decode(rest)
        out.extend(obj if isinstance(obj, list) else [obj])
        i = len(text) - len(rest) + end


def sigma_view(doc: dict[str, Any], category: str) -> dict[str, Any]:
    """A Windows Sysmon event (EVTX JSON export) in the Sigma view: EventData fields as they are,
    plus the System fields rules use (EventID, Channel, Computer, Provider_Name)."""
    system = doc["Event"]["System"]
    event = dict(doc["Event"].get("EventData") or {})
    event["EventID"] = system["EventID"]
    event["Channel"] = system.get("Channel")
    event["Computer"] = system.get("Computer")
    event["Provider_Name"] = system["Provider"]["#attributes"]["Name"]
    eid = int(system["EventID"])
    assert category in SYSMON_CATEGORIES.get(eid, set()), f"EventID {eid} is not category {category}"
    return {
        "logsource": {"product": "windows", "service": "sysmon", "category": category},
        "event": event,
        "meta": {"time": system["TimeCreated"]["#attributes"]["SystemTime"]},
    }


def _samples() -> list[Path]:
    return sorted(SAMPLES.rglob("info.yml"))


def test_the_six_samples_and_their_rules_are_in_the_repository() -> None:
    assert len(_samples()) == 6
    assert len(list(SAMPLE_RULES.rglob("windows/**/*.yml"))) == 6


@needs_corpus
def test_copied_rules_are_the_corpus_files_unchanged() -> None:
    copies = sorted(p for p in SAMPLE_RULES.rglob("*.yml"))
    assert len(copies) > 200
    for copy in copies:
        assert copy.read_bytes() == (CORPUS / copy.relative_to(SAMPLE_RULES)).read_bytes(), copy


@pytest.mark.parametrize("info", _samples(), ids=lambda p: p.parent.name)
def test_regression_sample(info: Path) -> None:
    meta = yaml.safe_load(info.read_text())
    rule_id = meta["rule_metadata"][0]["id"]
    (rule_path,) = [p for p in SAMPLE_RULES.rglob(f"{info.parent.name}.yml") if f"\nid: {rule_id}" in p.read_text()]
    category = yaml.safe_load(rule_path.read_text())["logsource"]["category"]
    engine = SigmaEngine.from_paths([rule_path])
    assert not engine.problems
    for test in meta["regression_tests_info"]:
        export = info.parent / (Path(test["path"]).stem + ".json")
        events = [sigma_view(d, category) for d in _json_documents(export.read_text())]
        matches = engine.match_all(events)
        assert len(matches) == test["match_count"], f"{rule_path.name}: {len(matches)} matches"
        assert {m.rule_id for m in matches} == {rule_id}

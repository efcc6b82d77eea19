"""harness/rules/kql/columns.py: a JSONL table loads only the columns a query names, and only when
that gives the same result as the whole table (issue 17)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import RuleError
from harness.rules.kql import KqlEngine
from harness.rules.kql.columns import needed_columns
from harness.rules.kql.schema import table_columns

DATA = Path(__file__).resolve().parents[2] / "data" / "kql"
VIEW = DATA / "lab-defender.jsonl"  # real rows of the embedded lab: 132 process, 30 network events
SEED = Path(__file__).resolve().parents[3] / "detections" / "kql" / "T1590.005-ip-recon.kql"
TABLES = ["DeviceProcessEvents", "DeviceNetworkEvents"]
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
RANDOM = re.compile(r"\b(?:rand|sample|sample-distinct|new_guid)\b")


def _plan(query: str) -> dict[str, list[str]] | None:
    return needed_columns(KqlEngine("defender"), query, "<q>", NOW, TABLES, "defender")


def test_the_seed_query_loads_the_columns_it_names() -> None:
    only = _plan(SEED.read_text(encoding="utf-8"))
    assert only is not None
    assert set(only["DeviceNetworkEvents"]) == {
        "Timestamp", "DeviceName", "ActionType", "RemoteIP", "RemotePort", "RemoteUrl", "RemoteIPType",
        "InitiatingProcessFileName", "InitiatingProcessCommandLine", "InitiatingProcessAccountName"}
    assert "ProcessCommandLine" in only["DeviceProcessEvents"] and "SHA256" not in only["DeviceProcessEvents"]


@pytest.mark.parametrize("query", [
    "DeviceProcessEvents | take 5",                                   # outputs every column
    "DeviceProcessEvents | where * has 'nmap'",                       # reads every column
    "DeviceProcessEvents | search 'nmap'",
    "DeviceProcessEvents | project-away SHA1",
    "DeviceProcessEvents | extend b = pack_all() | project b",
    "DeviceProcessEvents | getschema",
    "union DeviceProcessEvents, DeviceNetworkEvents | where Timestamp > ago(1d)",
    "DeviceProcessEvents | where ProcessId * 2 > 10 | project FileName",  # any '*' is taken for all
])
def test_queries_that_reach_unnamed_columns_load_everything(query: str) -> None:
    assert _plan(query) is None


def test_words_in_strings_count_and_comments_do_not_hide_anything() -> None:
    only = _plan('DeviceProcessEvents // search * here is a comment\n'
                 '| project v = column_ifexists("SHA256", "")')
    assert only is not None and "SHA256" in only["DeviceProcessEvents"]


def _result(query: str, only: dict[str, list[str]] | None) -> tuple[object, ...]:
    engine = KqlEngine("defender")
    # one thread: the order of unsorted summarize rows and of make_set() is then the input's
    engine.con.execute("SET threads = 1")
    engine.load_view(VIEW, TABLES, "defender", only)
    res = engine.run(query, "<q>", NOW)
    engine.close()
    return res.columns, res.rows


def test_lean_loads_give_the_same_result_as_whole_tables_over_the_hunting_corpus() -> None:
    """Every public hunting query over the lab's real rows: where the plan is lean, the result
    (columns, types and rows) equals the result over whole tables."""
    lean = compared = with_rows = 0
    for f in sorted((DATA / "hunting").rglob("*.kql")):
        query = f.read_text(encoding="utf-8")
        if not any(re.search(rf"\b{t}\b", query) for t in TABLES) or RANDOM.search(query):
            continue  # not over these tables, or a different result on every run
        only = needed_columns(KqlEngine("defender"), query, f.name, NOW, TABLES, "defender")
        if only is None:
            continue
        lean += 1
        try:
            whole = _result(query, None)
        except RuleError:
            continue  # the engine rejects it (the corpus test counts those)
        assert _result(query, only) == whole, f
        compared += 1
        with_rows += bool(whole[1])
    # measured: 133 lean plans compared, 6 of them with rows (the rest filter the lab's rows out;
    # the seed query below has rows too)
    assert compared >= 130 and with_rows >= 6, (lean, compared, with_rows)


def test_the_seed_query_gets_the_same_rows_from_a_lean_load() -> None:
    query = SEED.read_text(encoding="utf-8")
    whole = _result(query, None)
    assert whole[1]  # the lab's rows hold the recon the query finds
    assert _result(query, _plan(query)) == whole


def test_a_lean_table_has_only_its_columns_and_another_load_makes_it_whole() -> None:
    engine = KqlEngine("defender")
    engine.load_jsonl("DeviceProcessEvents", VIEW, "defender", only=["Timestamp", "FileName"])
    assert [c for c, _ in engine.tables["DeviceProcessEvents"]] == ["Timestamp", "FileName"]
    with pytest.raises(RuleError):  # a column the lean load left out is unknown, not silently empty
        engine.run("DeviceProcessEvents | project SHA256", "<q>", NOW)
    engine.load_jsonl("DeviceProcessEvents", VIEW, "defender")
    assert engine.tables["DeviceProcessEvents"] == table_columns("DeviceProcessEvents", "defender")
    assert engine.run("DeviceProcessEvents | project SHA256", "<q>", NOW).rows
    engine.close()

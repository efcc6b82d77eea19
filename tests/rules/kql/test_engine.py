"""Engine internals that decide rows: term matching twins, loading, schema flavours, the CLI."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.errors import RuleError
from harness.rules.kql import KqlEngine, table_columns, table_names
from harness.rules.kql.sqlbase import any_term_regex, py_has, term_regex

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def test_regex_and_python_term_matching_agree() -> None:
    """The RE2 pattern (constant needles) and the Python UDF (column needles) must never differ."""
    rnd = random.Random(5)
    alphabet = "abA.- _/Ää1"
    eng = KqlEngine()
    cases = []
    for _ in range(400):
        hay = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 8)))
        needle = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 3)))
        cases.append((hay, needle))
    for cs in (False, True):
        singles = [(hay, term_regex(needle, cs), py_has(hay, needle, cs)) for hay, needle in cases]
        multis = []
        for hay, _ in cases[:100]:
            needles = [n for _, n in rnd.sample(cases, 3)]
            multis.append((hay, any_term_regex(needles, cs), any(py_has(hay, n, cs) for n in needles)))
        eng.con.execute("CREATE OR REPLACE TEMP TABLE cases (hay VARCHAR, rx VARCHAR, expected BOOLEAN)")
        eng.con.executemany("INSERT INTO cases VALUES (?, ?, ?)", [list(c) for c in singles + multis])
        # regexp_matches with a per-row pattern: one query checks every case
        bad = eng.con.execute(
            "SELECT hay, rx, expected FROM cases WHERE regexp_matches(hay, rx) <> expected").fetchall()
        assert bad == [], bad[:5]


def test_column_needles_use_the_same_semantics() -> None:
    eng = KqlEngine()
    q = ('datatable(h:string, n:string)["api.shodan.io", "shodan.io", "notshodan.io", "shodan.io", '
         '"nmap -sn x", "nmap -sn"] | where h has n | project h')
    assert [r["h"] for r in eng.run(q, "<q>", NOW).records()] == ["api.shodan.io", "nmap -sn x"]


def test_schema_tables_and_the_accountname_fact() -> None:
    assert {"DeviceProcessEvents", "DeviceNetworkEvents", "DeviceFileEvents", "DeviceEvents", "DeviceInfo",
            "DeviceLogonEvents", "DeviceRegistryEvents", "DeviceImageLoadEvents", "DeviceNetworkInfo"} <= set(
        table_names())
    net = dict(table_columns("DeviceNetworkEvents", "defender") or [])
    assert "AccountName" not in net and net["InitiatingProcessAccountName"] == "string"
    assert net["RemotePort"] == "int" and net["Timestamp"] == "datetime"
    assert "TimeGenerated" not in net
    sent = dict(table_columns("DeviceNetworkEvents", "sentinel") or [])
    assert sent["TimeGenerated"] == "datetime" and sent["AdditionalFields"] == "dynamic"
    assert {"TenantId", "SourceSystem", "Type"} <= set(sent)


def test_loading_converts_types_and_skips_other_tables(tmp_path: Path) -> None:
    view = tmp_path / "defender.jsonl"
    view.write_text(
        json.dumps({"table": "DeviceNetworkEvents", "row": {"Timestamp": "2026-11-28T05:35:50.134Z",
                                                            "RemotePort": "443", "RemoteUrl": None}}) + "\n"
        + json.dumps({"table": "DeviceProcessEvents", "row": {"Timestamp": "2026-11-28T05:35:51Z"}}) + "\n",
        encoding="utf-8")
    eng = KqlEngine()
    assert eng.load_jsonl("DeviceNetworkEvents", view) == 1
    out = list(eng.run("DeviceNetworkEvents | project Timestamp, RemotePort, RemoteUrl, isnull(LocalPort)",
                       "<q>", NOW).records())
    # strings are never null in Kusto: a missing or null string cell reads as ""
    assert out == [{"Timestamp": "2026-11-28T05:35:50.1340000Z", "RemotePort": 443, "RemoteUrl": "",
                    "Column1": True}]
    bare = tmp_path / "rows.jsonl"
    bare.write_text(json.dumps({"FileName": "nmap", "ProcessId": 7}) + "\n", encoding="utf-8")
    assert eng.load_jsonl("DeviceProcessEvents", bare) == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert eng.load_jsonl("DeviceFileEvents", empty) == 0
    assert eng.run("DeviceFileEvents | count", "<q>", NOW).rows == ((0,),)
    with pytest.raises(RuleError, match="unknown table"):
        eng.load_jsonl("NotATable", bare)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from harness.cli import main

    rc = main(["kql", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_output_forms_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _cli(capsys, "print t = datetime(2026-11-28 05:35:50), s = 90m, d = dynamic([1, 'a']), "
                                "n = long(null)")
    assert rc == 0, err
    assert json.loads(out) == {"t": "2026-11-28T05:35:50.0000000Z", "s": "01:30:00", "d": [1, "a"], "n": None}
    rc, out, err = _cli(capsys, "print x = \n  nosuchcolumn + 1")
    assert rc == 2 and out == ""
    assert "<query>:2:3:" in err and "nosuchcolumn" in err
    rc, _, err = _cli(capsys, "print 1", "--table", f"DeviceInfo={tmp_path / 'nope.jsonl'}")
    assert rc == 2 and "no such file" in err
    rc, out, _ = _cli(capsys, "print now(), ago(1d)", "--now", "2026-11-28T06:00:00Z")
    assert json.loads(out) == {"print_0": "2026-11-28T06:00:00.0000000Z", "print_1": "2026-11-27T06:00:00.0000000Z"}
    empty = tmp_path / "e.jsonl"
    empty.write_text("", encoding="utf-8")
    rc, out, _ = _cli(capsys, "DeviceNetworkEvents | count", "--table", f"DeviceNetworkEvents={empty}",
                      "--schema", "sentinel")
    assert rc == 0 and json.loads(out) == {"Count": 0}


def test_tables_load_from_dev_null_fifos_and_pipes(tmp_path: Path) -> None:
    """Any readable path is a table file: /dev/null is an empty table of the schema, a FIFO (or
    /dev/stdin, or a shell's <(...)) is read once, through a temporary copy."""
    import os
    import threading

    engine = KqlEngine("defender")
    assert engine.load_jsonl("DeviceProcessEvents", "/dev/null") == 0
    result = engine.run("DeviceProcessEvents | count", "<q>", NOW)
    assert list(result.records()) == [{"Count": 0}]
    fifo = tmp_path / "rows.fifo"
    os.mkfifo(fifo)
    rows = [{"table": "DeviceNetworkEvents", "row": {"RemotePort": 443, "RemoteUrl": "a.example"}},
            {"table": "DeviceProcessEvents", "row": {"FileName": "nmap"}}]

    def feed() -> None:
        with fifo.open("w", encoding="utf-8") as f:
            f.write("\n".join(json.dumps(r) for r in rows) + "\n")

    writer = threading.Thread(target=feed)
    writer.start()
    counts = engine.load_view(fifo, ["DeviceNetworkEvents", "DeviceProcessEvents"])
    writer.join()
    assert counts == {"DeviceNetworkEvents": 1, "DeviceProcessEvents": 1}
    out = engine.run("DeviceNetworkEvents | where RemotePort != 80 | project RemoteUrl", "<q>", NOW)
    assert list(out.records()) == [{"RemoteUrl": "a.example"}]


def test_duckdb_memory_is_capped_at_a_share_of_ram(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.rules.kql.engine import memory_limit_mib

    monkeypatch.delenv("RECON_HARNESS_KQL_MEMORY_MIB", raising=False)
    total_mib = (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) >> 20
    assert abs(memory_limit_mib() - total_mib // 2) <= 1
    monkeypatch.setenv("RECON_HARNESS_KQL_MEMORY_MIB", "512")
    limit = KqlEngine().con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert limit is not None and limit[0] in ("512.0 MiB", "536.8 MB"), limit


def test_a_query_is_translated_once_and_serves_every_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """now() is a session variable: one translation per query text serves each detonation's `now`
    (a detection used to be translated again for every detonation)."""
    from harness.rules.kql import engine as engine_module
    from harness.rules.kql.translate import Translation, translate

    calls: list[str] = []

    def counting(*a: Any, **k: Any) -> Translation:
        calls.append("t")
        return translate(*a, **k)

    monkeypatch.setattr(engine_module, "translate", counting)
    rows = [{"Timestamp": "2026-11-28T05:00:00Z", "FileName": "nmap"},
            {"Timestamp": "2026-11-27T05:00:00Z", "FileName": "curl"}]
    query = "DeviceProcessEvents | where Timestamp between (ago(12h) .. now()) | project FileName"
    eng = KqlEngine("defender")
    got = {}
    for now in (datetime(2026, 11, 28, 6, tzinfo=UTC), datetime(2026, 11, 27, 6, tzinfo=UTC)):
        eng.reset()
        eng.load_rows("DeviceProcessEvents", rows)
        got[now.day] = [r[0] for r in eng.run(query, "q.kql", now).rows]
    assert got == {28: ["nmap"], 27: ["curl"]} and len(calls) == 1
    # a time of day without a date is on `now`'s date: that translation is not reused
    relative = "DeviceProcessEvents | where Timestamp > datetime(04:00) | project FileName"
    for now in (datetime(2026, 11, 28, 6, tzinfo=UTC), datetime(2026, 11, 27, 6, tzinfo=UTC)):
        got[now.day] = [r[0] for r in eng.run(relative, "q.kql", now).rows]
    assert got == {28: ["nmap"], 27: ["nmap", "curl"]} and len(calls) == 3

"""Benchmark: the corrected seed KQL query over 1M DeviceNetworkEvents + 1M DeviceProcessEvents rows.

Generates reproducible synthetic Defender-view rows (fixed seed; a small share of them are IP-intel
lookups and OSINT tool runs the query must find), writes them as the run's JSONL view
(``{"table", "row"}`` lines) and as Parquet, then measures separately:

* loading from JSONL and from Parquet (each table, wall time),
* the query once loaded (median and max of ``--repeat`` runs),
* the seed query from the JSONL view *including load*, as ``harness kql`` runs it: a new engine,
  the column plan (only the columns the query names, harness/rules/kql/columns.py), both tables
  loaded, the query run (three runs; issue 17's floor: at most 2 s).

The floors: query time under 1 s once loaded; JSONL load + query at most 2 s. Usage::

    .venv/bin/python bench/bench_kql.py [--rows 1000000] [--repeat 5] [--dir /tmp/kql-bench]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from harness.rules.kql import KqlEngine

ROOT = Path(__file__).resolve().parents[1]
QUERY = ROOT / "detections" / "kql" / "T1590.005-ip-recon.kql"
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)

_URLS = ["www.example.com", "login.microsoftonline.com", "api.github.com", "cdn.contoso.net", "",
         "api.shodan.io", "whois.arin.net", "bgp.he.net", "ipinfo.io", "update.contoso.com"]
# the first five of each list are benign, the last five are what the query must find
_CMDS = ["/usr/bin/ls -la /tmp", "bash -c echo hello", "python3 app.py --serve", "curl -s https://www.example.com/",
         "systemctl status sshd", "shodan host 198.51.100.1", "nmap -sn 10.0.0.0/24", "masscan --rate 1000 10.0.0.0/8",
         "amass enum -d example.com", "theharvester -d example.com -b bing"]


def generate(out: Path, rows: int) -> tuple[Path, Path, Path]:
    """Write the synthetic rows as one Defender-view JSONL file and one Parquet file per table."""
    out.mkdir(parents=True, exist_ok=True)
    jsonl, net_pq, proc_pq = out / "defender.jsonl", out / "net.parquet", out / "proc.parquet"
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    urls = "[" + ", ".join(f"'{u}'" for u in _URLS) + "]"
    cmds = "[" + ", ".join(f"'{c}'" for c in _CMDS) + "]"
    # 2% of rows carry an intel URL / OSINT command line; the rest are benign
    con.execute(f"""
        CREATE TABLE net AS SELECT
          strftime(TIMESTAMP '2026-11-28 06:00:00' - to_microseconds(CAST(random() * 172800e6 AS BIGINT)),
                   '%Y-%m-%dT%H:%M:%S.%fZ') AS Timestamp,
          'host-' || CAST(i % 500 AS VARCHAR) AS DeviceName,
          CASE WHEN random() < 0.9 THEN 'ConnectionSuccess' ELSE 'ConnectionFailed' END AS ActionType,
          '198.51.100.' || CAST(i % 250 AS VARCHAR) AS RemoteIP,
          CAST(443 AS INTEGER) AS RemotePort,
          CASE WHEN random() < 0.02 THEN {urls}[5 + CAST(floor(random() * 5) AS INTEGER) + 1]
               ELSE {urls}[CAST(floor(random() * 5) AS INTEGER) + 1] END AS RemoteUrl,
          CASE WHEN random() < 0.5 THEN 'Public' ELSE 'Private' END AS RemoteIPType,
          'curl' AS InitiatingProcessFileName,
          'curl -s https://x' AS InitiatingProcessCommandLine,
          'user' || CAST(i % 50 AS VARCHAR) AS InitiatingProcessAccountName
        FROM range({rows}) t(i)""")
    con.execute(f"""
        CREATE TABLE proc AS SELECT
          strftime(TIMESTAMP '2026-11-28 06:00:00' - to_microseconds(CAST(random() * 172800e6 AS BIGINT)),
                   '%Y-%m-%dT%H:%M:%S.%fZ') AS Timestamp,
          'host-' || CAST(i % 500 AS VARCHAR) AS DeviceName,
          'ProcessCreated' AS ActionType,
          CASE WHEN random() < 0.02 THEN {cmds}[5 + CAST(floor(random() * 5) AS INTEGER) + 1]
               ELSE {cmds}[CAST(floor(random() * 5) AS INTEGER) + 1] END AS ProcessCommandLine,
          'bash' AS FileName,
          'user' || CAST(i % 50 AS VARCHAR) AS AccountName,
          'sshd' AS InitiatingProcessFileName,
          'sshd: user' AS InitiatingProcessCommandLine
        FROM range({rows}) t(i)""")
    con.execute(f"COPY net TO '{net_pq}' (FORMAT parquet)")
    con.execute(f"COPY proc TO '{proc_pq}' (FORMAT parquet)")
    con.execute(f"""COPY (
        SELECT 'DeviceNetworkEvents' AS "table", to_json(n) AS "row" FROM net n
        UNION ALL SELECT 'DeviceProcessEvents', to_json(p) FROM proc p
      ) TO '{jsonl}' (FORMAT json)""")
    return jsonl, net_pq, proc_pq


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows per table (default 1,000,000)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/kql-bench"))
    ap.add_argument("--query-only", action="store_true",
                    help="reuse --dir's Parquet files and measure the query only (no generation, no JSONL load)")
    args = ap.parse_args(argv)

    query = QUERY.read_text(encoding="utf-8")
    results: dict[str, object] = {"rows_per_table": args.rows}
    if args.query_only:
        net_pq, proc_pq = args.dir / "net.parquet", args.dir / "proc.parquet"
        eng = KqlEngine("defender")
        eng.load_parquet("DeviceNetworkEvents", net_pq)
        eng.load_parquet("DeviceProcessEvents", proc_pq)
        results["rows_per_table"] = eng.load_stats
        return _query(eng, query, args.repeat, results)
    t0 = time.perf_counter()
    jsonl, net_pq, proc_pq = generate(args.dir, args.rows)
    results["generate_s"] = round(time.perf_counter() - t0, 2)
    # first, while no other engine holds 2M rows in memory
    results["jsonl_load_and_query_s"] = _load_and_query(jsonl, query)
    eng = KqlEngine("defender")
    results["load_jsonl_s"] = {
        "DeviceNetworkEvents": round(timed(eng.load_jsonl, "DeviceNetworkEvents", jsonl), 3),
        "DeviceProcessEvents": round(timed(eng.load_jsonl, "DeviceProcessEvents", jsonl), 3),
    }
    view = KqlEngine("defender")
    results["load_view_both_tables_s"] = round(
        timed(view.load_view, jsonl, ["DeviceNetworkEvents", "DeviceProcessEvents"]), 3)
    pq = KqlEngine("defender")
    results["load_parquet_s"] = {
        "DeviceNetworkEvents": round(timed(pq.load_parquet, "DeviceNetworkEvents", net_pq), 3),
        "DeviceProcessEvents": round(timed(pq.load_parquet, "DeviceProcessEvents", proc_pq), 3),
    }
    view.close()
    pq.close()
    return _query(eng, query, args.repeat, results)


def _load_and_query(jsonl: Path, query: str, runs: int = 3) -> dict[str, object]:
    from harness.rules.kql.columns import needed_columns

    tables = ["DeviceNetworkEvents", "DeviceProcessEvents"]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        eng = KqlEngine("defender")
        only = needed_columns(eng, query, str(QUERY), NOW, tables, "defender")
        eng.load_view(jsonl, tables, "defender", only)
        n = len(eng.run(query, str(QUERY), NOW).rows)
        times.append(time.perf_counter() - start)
        eng.close()
    return {"runs": [round(t, 3) for t in times], "median": round(statistics.median(times), 3),
            "lean": only is not None, "result_rows": n, "at_most_2s": max(times) <= 2.0}


def _query(eng: KqlEngine, query: str, repeat: int, results: dict[str, object]) -> int:
    times, cpu, n_rows = [], [], 0
    eng.run(query, str(QUERY), NOW)  # warm-up
    for _ in range(repeat):
        start, cstart = time.perf_counter(), time.process_time()
        n_rows = len(eng.run(query, str(QUERY), NOW).rows)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cstart)
    results["query_s"] = {"median": round(statistics.median(times), 3), "min": round(min(times), 3),
                          "max": round(max(times), 3), "runs": repeat}
    results["query_cpu_s_median"] = round(statistics.median(cpu), 3)
    # other jobs on the machine slow every figure down: report the load they put on it
    results["loadavg_1m"] = round(os.getloadavg()[0], 2)
    results["cpus"] = os.cpu_count()
    results["result_rows"] = n_rows
    results["query_under_1s"] = statistics.median(times) < 1.0
    print(json.dumps(results, indent=2))
    load = results.get("jsonl_load_and_query_s")  # absent with --query-only
    load_ok = not isinstance(load, dict) or bool(load["at_most_2s"])
    return 0 if results["query_under_1s"] and load_ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""``harness kql``: an empty result caused by ago()/now() on old (recorded) data says so on stderr,
exit 0; no hint for any other empty result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli import main
from harness.cli.kql import earliest_bound

TABLE = "DeviceProcessEvents=" + str(Path(__file__).resolve().parents[1] / "data" / "kql" / "lab-defender.jsonl")
NEWEST = "2026-11-28T05:36:12.447000Z"  # the newest Timestamp of lab-defender.jsonl's DeviceProcessEvents


def _kql(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["kql", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_ago_on_recorded_data_hints_at_now(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _kql(capsys, "DeviceProcessEvents | where Timestamp > ago(24h)", "--table", TABLE,
                        "--now", "2026-12-03T08:00:00Z")
    assert (rc, out) == (0, "")
    assert err == (
        "harness kql: note: no rows, and every input row is older than the query's ago(24h) bound: the newest "
        f"timestamp is {NEWEST}, the query ran with now = 2026-12-03T08:00:00Z; --now sets now() for ago() "
        f"(for example --now {NEWEST})\n"
    )
    # Without --now the real clock is used: the same hint (the recording is in the past).
    rc, out, err = _kql(capsys, "DeviceProcessEvents | where Timestamp > now(-1d)", "--table", TABLE)
    assert rc == 0 and out == "" and "now(-1d) bound" in err and f"newest timestamp is {NEWEST}" in err
    # With --now at the recording, the rows are there.
    rc, out, err = _kql(capsys, "DeviceProcessEvents | where Timestamp > ago(24h) | count", "--table", TABLE,
                        "--now", NEWEST)
    assert (rc, out, err) == (0, '{"Count": 132}\n', "")


@pytest.mark.parametrize("query", [
    "DeviceProcessEvents | where FileName == 'no-such-binary'",  # no ago()/now() at all
    "DeviceProcessEvents | where Timestamp > ago(24h) and FileName == 'no-such-binary'",  # rows are recent enough
    "DeviceProcessEvents | where Timestamp > now()",  # no bound to compare with
])
def test_no_hint_for_other_empty_results(capsys: pytest.CaptureFixture[str], query: str) -> None:
    rc, out, err = _kql(capsys, query, "--table", TABLE, "--now", "2026-11-28T06:00:00Z")
    assert (rc, out, err) == (0, "", "")


def test_earliest_bound_takes_the_widest_literal() -> None:
    now = datetime(2026, 11, 28, 6, tzinfo=UTC)
    bound = earliest_bound("T | where Timestamp > ago(1h) or Timestamp > ago( 2d ) or x < ago(30min)", now)
    assert bound == (datetime(2026, 11, 26, 6, tzinfo=UTC), "ago( 2d )")
    assert earliest_bound("T | where Timestamp > ago(Lookback)", now) is None


def test_table_files_may_be_dev_null_or_a_fifo(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Any readable path is a table file: /dev/null is an empty table of the schema, a FIFO (as a
    shell's <(zcat x.gz) gives) is read once; a missing path is still refused."""
    import os
    import threading

    rc, out, err = _kql(capsys, "DeviceProcessEvents | count", "--table", "DeviceProcessEvents=/dev/null")
    assert (rc, out) == (0, '{"Count": 0}\n')
    fifo = tmp_path / "rows"
    os.mkfifo(fifo)
    lines = Path(TABLE.split("=", 1)[1]).read_bytes()
    writer = threading.Thread(target=lambda: fifo.write_bytes(lines))
    writer.start()
    rc, out, err = _kql(capsys, "DeviceProcessEvents | count", "--table", f"DeviceProcessEvents={fifo}")
    writer.join()
    assert (rc, out) == (0, '{"Count": 132}\n')
    rc, out, err = _kql(capsys, "DeviceProcessEvents | count", "--table", f"DeviceProcessEvents={tmp_path / 'none'}")
    assert rc == 2 and "no such file" in err


def test_malformed_jsonl_lines_are_counted_and_the_valid_rows_still_load(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rows = tmp_path / "view.jsonl"
    rows.write_text('{"table": "DeviceProcessEvents", "row": {"FileName": "nmap", "ProcessId": 7}}\n'
                    '{"table": "DeviceProcessEvents", "row": {"FileName": "cu\n'   # a truncated write
                    '{"table": "DeviceProcessEvents", "row": {"FileName": "curl", "ProcessId": "x"}}\n')
    rc, out, err = _kql(capsys, "DeviceProcessEvents | project FileName, ProcessId",
                        "--table", f"DeviceProcessEvents={rows}")
    assert rc == 0
    assert out.splitlines() == ['{"FileName": "nmap", "ProcessId": 7}', '{"FileName": "curl", "ProcessId": null}']
    assert "DeviceProcessEvents: 1 malformed JSON line(s) skipped" in err

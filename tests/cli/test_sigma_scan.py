"""``harness sigma scan``: the same matches as ``harness parse --view sigma | harness sigma match``."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.cli._progress import Progress

ROOT = Path(__file__).resolve().parents[2]
RUN = next((ROOT / "tests" / "data" / "recordings" / "embedded-lab").glob("2*"))  # the one recorded run
DETECTIONS = ROOT / "detections" / "sigma"
SIGMAHQ_LINUX = ROOT / "tests" / "data" / "sigmahq" / "rules" / "linux"  # SigmaHQ's 210 Linux rules
FORMATS = ("auditd", "dnsmasq", "squid", "nflog", "inet")


def _inputs(fmt: str) -> list[str]:
    files = sorted(str(p) for p in RUN.glob(f"*/raw/{fmt}.log.gz"))
    assert files, f"no committed {fmt} recordings under {RUN}"
    return files


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    rc = cli.main(argv)
    return rc, capsys.readouterr().out


def _pipeline(capsys: pytest.CaptureFixture[str], tmp_path: Path, rules: str, fmt: str, raw: bool) -> str:
    """``harness parse … | harness sigma match … --events -``, through a file."""
    rc, events = _run(capsys, ["parse", "--format", fmt, "--view", "sigma", *(["--auditd-raw"] if raw else []),
                               *_inputs(fmt)])
    assert rc == 0
    path = tmp_path / f"{fmt}.jsonl"
    path.write_text(events, encoding="utf-8")
    rc, matches = _run(capsys, ["sigma", "match", rules, "--events", str(path)])
    assert rc == 0
    return matches


@pytest.mark.parametrize("fmt", FORMATS)
def test_scan_gives_the_matches_of_parse_then_match(
    fmt: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # detections/sigma has an auditd-service rule: scan feeds it raw records, as --auditd-raw does.
    expected = _pipeline(capsys, tmp_path, str(DETECTIONS), fmt, raw=True)
    rc, got = _run(capsys, ["sigma", "scan", str(DETECTIONS), "--format", fmt, *_inputs(fmt)])
    assert rc == 0
    assert got.splitlines(), f"no {fmt} match: the comparison would prove nothing"
    assert got == expected


def test_no_auditd_raw_gives_the_semantic_events_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    expected = _pipeline(capsys, tmp_path, str(DETECTIONS), "auditd", raw=False)
    rc, got = _run(capsys, ["sigma", "scan", str(DETECTIONS), "--no-auditd-raw", "--format", "auditd",
                            *_inputs("auditd")])
    assert rc == 0
    with_raw = cli.main(["sigma", "scan", str(DETECTIONS), "--format", "auditd", *_inputs("auditd")])
    assert with_raw == 0
    raw_ids = {json.loads(x)["rule_id"] for x in capsys.readouterr().out.splitlines()}
    assert got == expected
    # the auditd-service rule fires only on raw records
    assert raw_ids - {json.loads(x)["rule_id"] for x in got.splitlines()}


def test_scan_with_sigmahq_linux_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    expected = _pipeline(capsys, tmp_path, str(SIGMAHQ_LINUX), "auditd", raw=True)
    rc, got = _run(capsys, ["sigma", "scan", str(SIGMAHQ_LINUX), "--format", "auditd", *_inputs("auditd")])
    assert rc == 0
    assert got.splitlines() and got == expected


def test_stdin_and_plain_files_give_the_same_matches(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"".join(gzip.decompress(Path(f).read_bytes()) for f in _inputs("auditd"))
    plain = tmp_path / "audit.log"
    plain.write_bytes(data)
    rc, from_file = _run(capsys, ["sigma", "scan", str(DETECTIONS), "--format", "auditd", str(plain)])
    assert rc == 0 and from_file
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    rc, from_stdin = _run(capsys, ["sigma", "scan", str(DETECTIONS), "--format", "auditd", "-"])
    assert rc == 0
    assert from_stdin == from_file


def test_summary_counts_the_matches_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    rc, matches = _run(capsys, ["sigma", "scan", str(DETECTIONS), "--format", "auditd", *_inputs("auditd")])
    assert rc == 0
    counts: dict[str, int] = {}
    for line in matches.splitlines():
        rid = json.loads(line)["rule_id"]
        counts[rid] = counts.get(rid, 0) + 1
    rc, text = _run(capsys, ["sigma", "scan", str(DETECTIONS), "--summary", "--format", "auditd",
                             *_inputs("auditd")])
    assert rc == 0
    summary = json.loads(text)  # stdout is not a terminal: JSON
    assert {r["rule_id"]: r["matches"] for r in summary["rules"]} == counts
    assert summary["matches"] == sum(counts.values())
    assert summary["rules_fired"] == len(counts) and summary["rules_loaded"] >= len(counts)


def test_stats_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sigma", "scan", str(DETECTIONS), "--stats", "--format", "nflog", *_inputs("nflog")]) == 0
    err = capsys.readouterr().err
    assert "records=" in err and "matches=" in err and "nflog: read" in err


def test_format_wants_a_known_format_then_files(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["sigma", "scan", str(DETECTIONS), "--format", "syslog", "x.log"])
    assert "invalid choice: 'syslog'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["sigma", "scan", str(DETECTIONS), "--format", "auditd"])
    assert "at least one FILE" in capsys.readouterr().err


def test_a_missing_input_is_one_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["sigma", "scan", str(DETECTIONS), "--format", "auditd", str(tmp_path / "none.log")]) == 2
    assert capsys.readouterr().err.strip() == f"harness: error: {tmp_path / 'none.log'}: no such file"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal_for_large_inputs(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"x\n" * 5000)
    assert Progress.for_inputs([str(path)], 1000, io.StringIO()) is None  # not a terminal
    assert Progress.for_inputs([str(path)], 1 << 20, _Tty()) is None  # small
    assert Progress.for_inputs(["-"], 1, _Tty()) is None  # stdin: no total
    tty = _Tty()
    bar = Progress.for_inputs([str(path)], 1000, tty)
    assert bar is not None
    bar._drawn = -1.0  # draw on the first read
    with bar.open(str(path)) as raw:
        assert raw.read(4000) == b"x\n" * 2000
    assert "[############" in tty.getvalue() and "40.0%" in tty.getvalue()
    bar.close()
    assert tty.getvalue().endswith("\r")

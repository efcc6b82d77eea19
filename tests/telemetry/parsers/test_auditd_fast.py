"""Differential tests: the C tokenizer (``_auditd_fast``) against the pure-Python reference.

Every line the C path accepts must give exactly what ``auditd.parse_line`` gives (same
values, same key order); whole-file parses and the Sigma view built on them must be
identical with and without the accelerator, on the Sysmon-for-Linux lab recording, the benchmark
generator's output, the malformed test inputs, hand-made edge cases and seeded mutations.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any, cast

import pytest

from harness.telemetry.parsers import ParseStats, auditd, open_lines
from harness.views.sigma import SigmaView

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "tests" / "data" / "telemetry"
RECORDING = REPO / "tests" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28" / "audit.log"

if not auditd.ACCELERATED:  # pragma: no cover - depends on the build
    pytest.skip("C tokenizer not built (pip install -e . needs gcc and python3-dev)", allow_module_level=True)

from harness.telemetry.parsers._auditd_fast import parse_line as c_parse_line  # noqa: E402


def _same_line(line: str) -> bool:
    """C result is None (Python path) or identical to the reference, key order included."""
    got = c_parse_line(line)
    try:
        ref: Any = auditd.parse_line(line)
    except auditd._BadLine:
        assert got is None, line
        return False
    if got is None:
        return False
    if ref[2] in auditd._LAZY_TYPES:  # the C path returns finished records
        auditd._decode_record_lazy(ref[3])
    assert repr(got) == repr(ref), line
    return True


def _run(lines: list[str], mode: str, window: int) -> tuple[str, str, list[tuple[int, int, int, int]], dict[str, Any]]:
    """Parse in one mode; also the stats seen at every event handed out."""
    st = ParseStats("auditd")
    view = SigmaView(accelerated=mode != "pure")  # the pure mode is the reference all through
    if mode == "pure":
        it = auditd.parse(lines, file="x.log", stats=st, window=window, accelerated=False)
    elif mode == "c-tokenizer":  # C tokenizer, Python grouping loop
        it = auditd._parse_python(lines, "x.log", st, window, True)
    else:
        it = auditd.parse(lines, file="x.log", stats=st, window=window)
    records, seen = [], []
    for rec in it:
        seen.append((st.read, st.parsed, st.unparseable, st.truncated))
        records.append(rec)
    sigma = [ev for rec in records for ev in view.events(rec)]
    return repr(records), repr(sigma), seen, st.to_dict()


def _parse_both(lines: list[str], window: int = auditd.DEFAULT_WINDOW) -> None:
    ref = _run(lines, "pure", window)
    for mode in ("c-tokenizer", "c"):
        got = _run(lines, mode, window)
        assert got[3] == ref[3], mode  # final stats, examples included
        assert got[2] == ref[2], mode  # stats at every event handed out
        assert got[0] == ref[0], mode  # events
        assert got[1] == ref[1], mode  # Sigma view


def _lines(path: Path) -> list[str]:
    return list(open_lines(path))


def _count_fast(lines: Iterable[str]) -> int:
    return sum(_same_line(line) for line in lines if line)


def test_sysmon_lab_recording_identical() -> None:
    lines = _lines(RECORDING)
    assert _count_fast(lines) > 900  # the C path takes nearly every kernel record
    _parse_both(lines)


def test_benchmark_generator_output_identical(bench_audit_lines: Callable[[int], list[str]]) -> None:
    lines = bench_audit_lines(400_000)
    fast = _count_fast(lines)
    assert fast > 0.9 * len(lines)
    _parse_both(lines)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("audit-*.log")))
def test_test_data_identical(name: str) -> None:
    lines = _lines(DATA / name)
    _count_fast(lines)
    _parse_both(lines)


GS = "\x1d"
EDGE_CASES = [
    "",
    "type=EOE msg=audit(1.0:1): ",
    "type=EOE msg=audit(1.0:1):",
    "type=EOE msg=audit(1.0:1)",
    "type=X msg=audit(1.0:1):x=1",
    "type=X msg=audit(1.0:1):  x=1 y=2",
    "type=X msg=audit(1.0): x=1",
    "type=X msg=audit(1.0:1 x=1",
    "typo=X msg=audit(1.0:1): x=1",
    "type=X msgs=audit(1.0:1): x=1",
    "type=X",
    "node= type=X msg=audit(1.0:1): x=1",
    "node=n1",
    "node=n1 type=X msg=audit(1.0:1): x=1 type=Y",
    "type=X msg=audit(1.0:1): x=1  y=2",
    "type=X msg=audit(1.0:1): x=1 y=2 ",
    "type=X msg=audit(1.0:1): x=1 y",
    "type=X msg=audit(1.0:1): x=1=2 y",
    "type=X msg=audit(1.0:1): x=1 =2",
    "type=X msg=audit(1.0:1): x= y=",
    "type=X msg=audit(1.0:1): x=1\ty=2 z=3",
    "type=X msg=audit(1.0:1): x=1\x1cy=2 z=3 w",
    'type=X msg=audit(1.0:1): comm="6869" exe=6869 name=686 cwd=GG key=(null)',
    "type=X msg=audit(1.0:1): comm=68 69",
    "type=X msg=audit(1.0:1): comm=6G69",
    "type=X msg=audit(1.0:1): comm=68\t69",
    "type=X msg=audit(1.0:1): proctitle=FF00FE",
    'type=X msg=audit(1.0:1): name="a" name=6869',
    'type=X msg=audit(1.0:1): xname="a" name=6869',
    'type=X msg=audit(1.0:1): comm="cut',
    "type=X msg=audit(1.0:1): msg='op=login acct=\"root\" res=success'",
    f"type=X msg=audit(1.0:1): x=1{GS}",
    f'type=X msg=audit(1.0:1): x=1{GS}A=1 B="b"',
    f'type=X msg=audit(1.0:1): x=1{GS}A="cut',
    f"type=X msg=audit(1.0:1): x=1{GS}A=1{GS}B=2",
    f"type=X msg=audit(1.0:1): x=1{GS}A=1  B=2",
    f"type=X msg=audit(1.0:1): x=1 key=6869{GS}key=6a6b",
    f"type=SOCKADDR msg=audit(1.0:1): saddr=0200{GS}SADDR={{ saddr_fam=inet laddr=1.2.3.4 lport=0 }}",
    f'type=SOCKADDR msg=audit(1.0:1): saddr=0200{GS}SADDR={{ unterminated X=1 Y="q" Z=\'s\' W="open',
    f"type=X msg=audit(1.0:1): x=1{GS}A={{}} B=={{x}} C D=x=y ==E=1 F='a b' G=\"\" H= I={{ }}",
    f"type=X msg=audit(1.0:1): x=1{GS}{{ A=1 }}x=2",
    f"type=X msg=audit(1.0:1): type=Z{GS}type={{W}}",
    'type=EXECVE msg=audit(1.0:1): argc=2 a0="ls" a1=2D6C',
    "type=X msg=audit(1.0:1): x=caf\u00e9",
    "type=X msg=audit(1.0:1): x=\x00 y=\x00",
]


def test_edge_cases_identical() -> None:
    for line in EDGE_CASES:
        _same_line(line)
    _parse_both([*EDGE_CASES, "type=EOE msg=audit(1.0:1): "])


def test_seeded_mutations_identical() -> None:
    """Random edits of real lines (quotes, separators, braces, hex digits) never diverge."""
    base = _lines(DATA / "audit-nmap-ses62.log") + _lines(DATA / "audit-malformed.log")
    alphabet = ['"', "'", " ", "  ", "=", "{", "}", GS, "\t", "A", "0", "f", "g", "(", ")", ":", "\x1c", "\u00e9"]
    rng = random.Random(20261128)
    mutated: list[str] = []
    for _ in range(4000):
        line = rng.choice(base)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(line) + 1)
            op = rng.random()
            if op < 0.5:
                line = line[:pos] + rng.choice(alphabet) + line[pos:]
            elif op < 0.8:
                line = line[:pos] + line[pos + 1 :]
            else:
                line = line[:pos]
        mutated.append(line)
    assert _count_fast(mutated) > 1000
    _parse_both(mutated)


def test_pure_python_path_still_used_without_accelerator() -> None:
    st = ParseStats("auditd")
    recs = list(auditd.parse(_lines(DATA / "audit-nmap-ses62.log"), stats=st, accelerated=False))
    assert recs and st.unparseable == 0


@pytest.mark.parametrize("window", [0, 1, 3])
def test_small_windows_and_record_cap_identical(
    window: int, bench_audit_lines: Callable[[int], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Window flushes (events without EOE) and the per-event record cap behave the same."""
    monkeypatch.setattr(auditd, "MAX_RECORDS_PER_EVENT", 3)
    lines = bench_audit_lines(60_000) + _lines(DATA / "audit-malformed.log")
    _parse_both(lines, window)


def test_stats_shared_and_abandoned_generator() -> None:
    """Counts land in a shared ParseStats even when the consumer stops early."""
    lines = _lines(DATA / "audit-nmap-ses62.log")
    for accelerated in (False, True):
        st = ParseStats("auditd")
        st.read = 100
        it = cast(Generator[Any, None, None], auditd.parse(lines, stats=st, accelerated=accelerated))
        next(it)
        first = (st.read, st.parsed)
        it.close()
        assert first == (st.read, st.parsed)
        assert st.read > 100 and st.parsed == 1


def test_bad_lines_and_non_strings() -> None:
    lines = ["garbage", "", "\n", "type=EOE msg=audit(1.0:1): \r\n", "type=X msg=audit(1.0:2): a=1\n"]
    _parse_both(lines)
    for accelerated in (False, True):
        with pytest.raises((TypeError, AttributeError)):
            list(auditd.parse([b"type=X msg=audit(1.0:1): a=1"], accelerated=accelerated))  # type: ignore[list-item]


def _grouped(grouper: Any, st: ParseStats) -> tuple[str, int, int, dict[str, Any]]:
    events = repr(list(grouper))
    return events, grouper.read, grouper.truncated, st.to_dict()


def test_c_line_reader_gives_open_lines_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The grouper reading a file itself sees exactly the lines open_lines yields: CR/LF,
    invalid UTF-8, blank lines, over-long lines cut (at any block size), no final newline."""
    from harness.telemetry.parsers import base

    monkeypatch.setattr(base, "MAX_LINE_CHARS", 400)
    real = [line.encode() for line in _lines(DATA / "audit-nmap-ses62.log")[:60]]
    noise = [b"\n", b"\r", b"\r\n", b"\xff", b"\xc3\xa9", b"\xe2\x82", b"x" * 500, b"\x1d", b" "]
    noise.append(b"\xf0\x9f\x98\x80" * 150)
    noise.append(b"\n" + b"\r" * 600 + b"\n")  # blank once cut and stripped: not a record
    rng = random.Random(11)
    p = tmp_path / "r.log"
    for i in range(150):
        parts = []
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            if r < 0.4:
                parts.append(rng.choice(real) + b"\n")
            elif r < 0.6:  # bad bytes inside a record's last value: decoded with replacement characters
                tail = rng.choice([*noise[3:6], b"\xc3\xa9" * 300])  # the last: cut by characters, not bytes
                parts.append(rng.choice(real) + tail + b"\n")
            else:
                parts.append(rng.choice(noise))
        p.write_bytes(b"".join(parts))
        st_ref = ParseStats("auditd")
        ref = _grouped(auditd.make_grouper(open_lines(p), file="r", stats=st_ref), st_ref)
        for block in (1, 7, 300, 1 << 16):
            st = ParseStats("auditd")
            assert auditd._CGrouper is not None
            with open(p, "rb") as raw:
                g = auditd._CGrouper(
                    (), *_callbacks(st), auditd._decode_record_lazy, 64, 4096, raw=raw, block=block, max_chars=400
                )
                got = _grouped(g, st)
            assert got == ref, (i, block)


def _callbacks(st: ParseStats) -> tuple[Any, Any]:
    def slow(line: str, n: int) -> Any:
        try:
            return auditd.parse_line(line)
        except auditd._BadLine as exc:
            st.bad("r", n, str(exc))
            return None

    def bad(n: int, reason: str) -> None:
        st.bad("r", n, reason)

    return slow, bad


def test_parse_path_matches_parse_of_lines() -> None:
    for path in [*sorted(DATA.glob("audit-*.log")), RECORDING]:
        if not path.is_file():
            continue
        st_a, st_b = ParseStats("auditd"), ParseStats("auditd")
        a = repr(list(auditd.parse(open_lines(path), file=str(path), stats=st_a, accelerated=False)))
        b = repr(list(auditd.parse_path(path, stats=st_b)))
        assert a == b and st_a.to_dict() == st_b.to_dict(), path

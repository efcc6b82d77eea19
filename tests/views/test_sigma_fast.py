"""Differential tests: the C auditd Sigma view (``_sigma_fast``) against the Python reference.

The reference is ``SigmaView(accelerated=False)`` over ``auditd.parse(accelerated=False)``.
The C entry points must give identical events (values and key order), identical extractor
state afterwards (process table, inode table, in LRU order) and identical parse statistics:
``SigmaView().events`` on parsed records, ``SigmaView().auditd_stream`` on raw lines and
``SigmaView().auditd_file`` on the same lines written to a file (the C line reader).
Inputs: the Sysmon-for-Linux and embedded-lab recordings, the benchmark generator's output, the
malformed test data, hand-made edge cases (relative and unnormalised paths, split EXECVE
arguments, odd ids, DNS-named connections, LRU eviction) and seeded mutations.
"""

from __future__ import annotations

import gzip
import ipaddress
import random
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.telemetry.parsers import ParseStats, Record, auditd, open_lines
from harness.views import sigma as sigma_mod
from harness.views.activity import ActivityExtractor
from harness.views.context import ProcessTable, ViewContext
from harness.views.sigma import SigmaView

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "telemetry"
SHARED = REPO / "tests" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28"
EMBEDDED = REPO / "tests" / "data" / "recordings" / "embedded-lab"

if not (sigma_mod.ACCELERATED and auditd.ACCELERATED):  # pragma: no cover - depends on the build
    pytest.skip("C accelerators not built (pip install -e . needs gcc and python3-dev)", allow_module_level=True)

CTX = ViewContext(
    public_ranges=(ipaddress.ip_network("198.51.100.0/24"),),
    local_addresses=("198.51.100.250",),
)


def _extractor(capacity: int, dns: list[tuple[float | None, str, str]]) -> ActivityExtractor:
    ex = ActivityExtractor(CTX, processes=ProcessTable(capacity))
    for t, name, ip in dns:
        ex.dns.add_answer(t, name, ip)
    return ex


def _state(view: SigmaView) -> str:
    ex = view.extractor
    return repr((list(ex.processes._pids.items()), list(ex._inodes.items())))


def _modes(
    lines: list[str], *, meta: bool = True, raw: bool = True, capacity: int = 65536, dns: Any = ()
) -> None:
    def view(accelerated: bool) -> SigmaView:
        return SigmaView(CTX, _extractor(capacity, list(dns)), meta=meta, auditd_raw=raw, accelerated=accelerated)

    results = {}
    ref_view = view(False)
    st = ParseStats("auditd")
    ref = [ref_view.events(r) for r in auditd.parse(lines, file="a.log", stats=st, accelerated=False)]
    results["ref"] = (repr(ref), _state(ref_view), st.to_dict())
    ev_view = view(True)
    st = ParseStats("auditd")
    got = [ev_view.events(r) for r in auditd.parse(lines, file="a.log", stats=st)]
    results["events"] = (repr(got), _state(ev_view), st.to_dict())
    stream_view = view(True)
    st = ParseStats("auditd")
    got = list(stream_view.auditd_stream(lines, file="a.log", stats=st))
    results["stream"] = (repr(got), _state(stream_view), st.to_dict())
    file_view = view(True)
    st = ParseStats("auditd")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.log"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8", errors="surrogateescape")
        got = list(file_view.auditd_file(path, file="a.log", stats=st))
    results["file"] = (repr(got), _state(file_view), st.to_dict())
    for mode in ("events", "stream", "file"):
        assert results[mode][2] == results["ref"][2], mode
        assert results[mode][0] == results["ref"][0], mode
        assert results[mode][1] == results["ref"][1], mode


def _lines(path: Path) -> list[str]:
    return list(open_lines(path))


def test_sysmon_lab_recording_identical() -> None:
    lines = _lines(SHARED / "audit.log") + _lines(SHARED / "audit-context.log")
    dns = [(None, "whois.arin.net", "198.51.100.10"), (None, "bgp.he.net", "198.51.100.13")]
    for meta, raw in ((True, True), (False, False), (True, False)):
        _modes(lines, meta=meta, raw=raw, dns=dns)


def test_embedded_lab_recording_identical() -> None:
    logs = sorted(EMBEDDED.glob("*/*/raw/auditd.log.gz"))
    assert logs, "embedded-lab recording missing"
    for log in logs:
        with gzip.open(log, "rt", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        _modes(lines)


def test_benchmark_output_identical(bench_audit_lines: Callable[[int], list[str]]) -> None:
    lines = bench_audit_lines(300_000)
    _modes(lines)
    _modes(lines, capacity=7)  # process-table eviction on every few events


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("audit-*.log")))
def test_test_data_identical(name: str) -> None:
    _modes(_lines(DATA / name))


GS = "\x1d"


def _ev(serial: int, *records: str, t: str = "1795844150.123") -> list[str]:
    return [f"type={r.split(' ', 1)[0]} msg=audit({t}:{serial}): {r.split(' ', 1)[1]}" for r in records] + [
        f"type=EOE msg=audit({t}:{serial}): "
    ]


def _sc(nr: int, extra: str = "", pid: str = "200", ppid: str = "100", success: str = "yes") -> str:
    return (
        f"SYSCALL arch=c000003e syscall={nr} success={success} exit=0 a0=ffffff9c a1=1 items=2 ppid={ppid} "
        f'pid={pid} auid=1000 uid=1000 ses=3 comm="x" exe="/usr/bin/x" {extra}'
    )


EDGE = [
    # execve with split arguments (merged by auditd._build_event) and a second EXECVE record
    *_ev(
        1,
        _sc(59),
        'EXECVE argc=3 a0="curl" a1_len=6 a1[0]=2D2D',
        "EXECVE a1[1]=7369 a2=\"x\"",
        'CWD cwd="/home/u"',
    ),
    # relative created file, AT_FDCWD: joined to the CWD; "./" and "//" need normalising
    *_ev(2, _sc(257), 'CWD cwd="/home/u//w"', 'PATH item=0 name="./" inode=5 dev=fe:00 mode=040755 nametype=PARENT',
         'PATH item=1 name="./out//a.txt" inode=9 dev=fe:00 mode=0100644 nametype=CREATE'),
    # a directory fd (a0 not AT_FDCWD): the parent inode named earlier decides
    *_ev(3, _sc(257).replace("a0=ffffff9c", "a0=3"),
         'PATH item=0 name="sub" inode=5 dev=fe:00 mode=040755 nametype=PARENT',
         'PATH item=1 name="b.txt" inode=10 dev=fe:00 mode=0100644 nametype=CREATE'),
    *_ev(4, _sc(263), 'PATH item=0 name="//tmp/./z/../y" inode=11 dev=fe:00 mode=0100644 nametype=DELETE',
         'PATH item=1 name="/tmp/dir/" inode=12 dev=fe:00 mode=040755 nametype=CREATE',
         'PATH item=2 name="(null)" inode=13 dev=fe:00 mode=0100644 nametype=CREATE'),
    # odd ids: hex pid, unset uid/auid/ses, enriched UID, non-decimal ppid
    *_ev(5, _sc(42, pid="0x1F", ppid="abc").replace("auid=1000", "auid=4294967295").replace("ses=3", "ses=4294967295"),
         "SOCKADDR saddr=0200003506336407" + "0" * 16),
    *_ev(6, _sc(42) + f'{GS}UID="alice" SYSCALL=connect', "SOCKADDR saddr=020001BBC633640A" + "0" * 16,
         "PROCTITLE proctitle=6375726C"),
    # sendto raw probe, IPv6 connect, unix connect, failed connect, sendmsg to DNS
    *_ev(7, _sc(44), "SOCKADDR saddr=02000000C6336481" + "0" * 16),
    *_ev(8, _sc(42), "SOCKADDR saddr=0A0001BB00000000" + "20010DB8000000000000000000000001" + "00000000"),
    *_ev(9, _sc(42), "SOCKADDR saddr=01002F72756E2F78"),
    *_ev(10, _sc(42, success="no"), "SOCKADDR saddr=020001BBC633640D" + "0" * 16),
    *_ev(11, _sc(46), "SOCKADDR saddr=02000035C6336402" + "0" * 16),
    # execve that failed; execveat; an exe of (null); no SYSCALL at all; pid equal to ppid
    *_ev(12, _sc(59, success="no"), 'EXECVE argc=1 a0="nope"'),
    *_ev(13, _sc(322, pid="300", ppid="300"), 'EXECVE argc=2 a0="sh" a1="-c"'),
    *_ev(14, _sc(59).replace('exe="/usr/bin/x"', "exe=(null)"), 'EXECVE argc=1 a0="z"'),
    *_ev(15, 'CWD cwd="/"', "PROCTITLE proctitle=6C73"),
    # no timestamp a float accepts; a time out of range
    *_ev(16, _sc(42), "SOCKADDR saddr=020001BBC633640A" + "0" * 16, t="x1"),
    *_ev(17, _sc(42), "SOCKADDR saddr=020001BBC633640A" + "0" * 16, t="1e300"),
    # non-ASCII exe and names go through the Python tokenizer, then the same C view
    *_ev(18, _sc(59).replace('exe="/usr/bin/x"', 'exe="/usr/bin/caf\u00e9"'), 'EXECVE argc=1 a0="caf\u00e9"'),
    *_ev(19, _sc(257), 'PATH item=0 name="/tmp/\u00e9t\u00e9.txt" inode=14 dev=fe:00 mode=0100644 nametype=CREATE'),
]
DNS = [(1795844150.0, "whois.arin.net", "198.51.100.10"), (1795844150.0, "rdap.arin.net", "198.51.100.10"),
       (1795844149.0, "bgp.he.net", "198.51.100.13")]


def test_edge_cases_identical() -> None:
    for meta, raw in ((True, True), (False, True), (True, False)):
        _modes(EDGE, meta=meta, raw=raw, dns=DNS)
    _modes(EDGE, capacity=2, dns=DNS)


def test_seeded_mutations_identical() -> None:
    base = EDGE + _lines(DATA / "audit-nmap-ses62.log") + _lines(DATA / "audit-malformed.log")
    alphabet = ['"', " ", "=", "/", ".", "0", "4", "x", ":", "\u00e9", GS, "(null)", "ffffff9c", "-"]
    rng = random.Random(20261128)
    mutated: list[str] = []
    for _ in range(3000):
        line = rng.choice(base)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(line) + 1)
            insert = rng.random() < 0.6
            line = line[:pos] + rng.choice(alphabet) + line[pos:] if insert else line[:pos] + line[pos + 1 :]
        mutated.append(line)
    _modes(mutated, dns=DNS)


def test_mixed_sources_share_the_process_table() -> None:
    """A Sysmon process creation seen first names the parent of an auditd event (and the
    other way round): both paths read and write the same table."""
    sysmon = Record(
        "sysmon",
        {"EventID": "1", "ProcessId": "100", "Image": "/bin/bash", "CommandLine": "bash", "User": "u",
         "ProcessGuid": "{g}"},
        "s.log",
        1,
        1795844150.0,
    )
    audit = list(auditd.parse(_ev(1, _sc(59), 'EXECVE argc=1 a0="x"')))
    out = {}
    for accelerated in (False, True):
        view = SigmaView(CTX, accelerated=accelerated)
        out[accelerated] = repr([view.events(sysmon), view.events(audit[0]), _state(view)])
    assert out[True] == out[False]
    assert "'ParentImage': '/bin/bash'" in out[True]


def test_records_that_are_not_dicts_fall_back() -> None:
    rec = Record("auditd", {"serial": 1, "node": None, "records": [["not", "a", "dict"]]}, "a.log", 1, 1.0)
    with pytest.raises(AttributeError):  # what the Python reference raises
        SigmaView(accelerated=True).events(rec)


def test_stream_counts_and_bad_lines() -> None:
    lines = ["garbage", "", "type=EOE msg=audit(1.0:1): ", *_ev(2, _sc(42), "SOCKADDR saddr=0200"), "x=1"]
    st = ParseStats("auditd")
    events = list(SigmaView(CTX).auditd_stream(lines, file="f.log", stats=st))
    assert st.read == 6 and st.unparseable == 2 and st.parsed == len(events) == 2
    assert [e["line"] for e in st.to_dict()["examples"]] == [1, 7]

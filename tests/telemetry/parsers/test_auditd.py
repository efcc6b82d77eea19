from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.telemetry.parsers import ParseStats, parse_file
from harness.telemetry.parsers.auditd import decode_sockaddr, execve_argv, parse

DATA = Path(__file__).resolve().parents[2] / "data" / "telemetry"


def _events(path: Path) -> tuple[list[Any], ParseStats]:
    st = ParseStats("auditd")
    return list(parse_file("auditd", path, stats=st)), st


def test_real_recording_groups_every_event(recording: Path) -> None:
    events, st = _events(recording / "audit.log")
    assert (st.read, st.parsed, st.unparseable) == (963, 266, 0)  # README: 963 lines, 266 events
    assert sum(len(e.fields["records"]) for e in events) == 963 - 28 + 28  # EXECVE merged per event
    serials = [e.fields["serial"] for e in events]
    assert len(set(serials)) == 266


def test_nmap_execve_arguments_and_context(data: Path) -> None:
    events, st = _events(data / "audit-nmap-ses62.log")
    assert st.unparseable == 0
    nmap = [e for e in events if any(r["type"] == "EXECVE" and r.get("a0") == "nmap" for r in e.fields["records"])]
    assert len(nmap) == 1
    recs = {r["type"]: r for r in nmap[0].fields["records"]}
    assert execve_argv(recs["EXECVE"]) == ["nmap", "-sn", "198.51.100.128/28", "-oX", "/tmp/atomic-nmap-sweep.xml"]
    assert recs["SYSCALL"]["exe"] == "/usr/bin/nmap"
    assert recs["SYSCALL"]["SYSCALL"] == "execve"  # enriched field kept under its own name
    assert recs["SYSCALL"]["UID"] == "root"
    assert recs["CWD"]["cwd"] == "/root"
    assert nmap[0].iso_time() == "2026-11-28T05:35:50.176Z"


def test_hex_encoded_bash_c_argument_is_decoded(data: Path) -> None:
    events, _ = _events(data / "audit-nmap-ses62.log")
    argvs = [execve_argv(r) for e in events for r in e.fields["records"] if r["type"] == "EXECVE"]
    assert ["bash", "-c", "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml"] in argvs


def test_sendto_sockaddr_decoded(data: Path) -> None:
    events, _ = _events(data / "audit-nmap-ses62.log")
    socks = [r for e in events for r in e.fields["records"] if r["type"] == "SOCKADDR" and r.get("saddr_fam") == "inet"]
    assert {"laddr": "198.51.100.129", "lport": 0} in [{"laddr": s["laddr"], "lport": s["lport"]} for s in socks]
    assert all("SADDR" not in s for s in socks)  # enriched duplicate replaced by the decoded fields


def test_malformed_input_is_counted_not_fatal(data: Path) -> None:
    events, st = _events(data / "audit-malformed.log")
    assert st.unparseable == 3 and st.truncated == 1
    assert [line for _f, line, _r in st.examples] == [10, 11, 13]
    by_node = {(e.fields["node"], e.fields["serial"]): e for e in events}
    # Interleaved events from two nodes with the same serial stay apart.
    lab1 = {r["type"]: r for r in by_node[("lab1", 500)].fields["records"]}
    lab2 = {r["type"]: r for r in by_node[("lab2", 500)].fields["records"]}
    # Split (aN_len / aN[i]) hex argument joined across two EXECVE records, quoted one kept literal.
    assert execve_argv(lab1["EXECVE"]) == [
        "echo",
        "A" * 20 + " with space " + "B" * 20,
        "hello world",
        "plain",
    ]
    assert lab1["CWD"]["cwd"] == "/home/user/my dir"
    assert lab1["PROCTITLE"]["proctitle"] == "echo x"
    assert "EOE" not in lab1
    assert lab2["SOCKADDR"]["saddr_fam"] == "inet6" and lab2["SOCKADDR"]["laddr"] == "2001:db8::1"
    assert lab2["SOCKADDR"]["lport"] == 443
    unix = {r["type"]: r for r in by_node[(None, 501)].fields["records"]}
    assert unix["SOCKADDR"]["path"] == "/var/run/nscd/socket"
    assert unix["SYSCALL"]["comm"] == "dd"  # quoted: not mistaken for hex
    assert unix["SYSCALL"]["SYSCALL"] == "connect"  # not enriched: name from the x86_64 table
    user = by_node[(None, 502)].fields["records"][0]
    assert user["acct"] == "root" and user["res"] == "success" and user["terminal"] == "ssh"
    cut = by_node[(None, 503)].fields["records"][0]
    assert cut["comm"] == "nmap" and "exe" not in cut  # partial last field dropped


def test_eoe_flushes_in_input_order() -> None:
    lines = [
        "type=SYSCALL msg=audit(1.000:1): syscall=59 pid=1",
        "type=SYSCALL msg=audit(1.000:2): syscall=59 pid=2",
        "type=EOE msg=audit(1.000:2): ",
        "type=PROCTITLE msg=audit(1.000:1): proctitle=6162",
        "type=EOE msg=audit(1.000:1): ",
    ]
    out = list(parse(lines))
    assert [e.fields["serial"] for e in out] == [1, 2]
    assert [r["type"] for r in out[0].fields["records"]] == ["SYSCALL", "PROCTITLE"]


@pytest.mark.parametrize("accelerated", [False, True])
def test_buffer_is_bounded_without_eoe(accelerated: bool) -> None:
    # 10 000 events never closed by EOE: the window flushes them as it goes.
    def gen() -> Iterator[Any]:
        for i in range(10_000):
            yield f"type=SYSCALL msg=audit(1.000:{i}): syscall=42 pid={i}"

    seen = 0
    it = parse(gen(), window=16, accelerated=accelerated)
    for _ev in it:
        seen += 1
        if seen == 5000:
            # At most window+1 open events: the Python loop's dict, or the C grouper's.
            frame = it.gi_frame.f_locals  # type: ignore[attr-defined]
            open_events = frame["grouper"].open_events if "grouper" in frame else frame["open_events"]
            assert len(open_events) <= 17
    assert seen == 10_000


def test_decode_sockaddr_families() -> None:
    assert decode_sockaddr("02002BCB7F000001" + "00" * 8) == {"saddr_fam": "inet", "laddr": "127.0.0.1", "lport": 11211}
    assert decode_sockaddr("100000000000000000000000")["saddr_fam"] == "netlink"
    assert decode_sockaddr("zz")["saddr_fam"] == "unparseable"
    assert decode_sockaddr("0100" + "00" + "616263")["path"] == "@abc"

"""Every command that reads a log or table accepts gzip and ``-`` (standard input) alike:
``harness parse`` (each format, the C auditd reader and the redacting path too), ``harness kql
--table`` and ``harness sigma match --events``. Each variant's output equals the plain file's."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
REC = REPO / "tests" / "data" / "recordings" / "sysmon-linux-lab-2026-11-28"
TEL = REPO / "tests" / "data" / "telemetry"
EVTX = next((REPO / "tests" / "data" / "sigmahq" / "regression-samples").rglob("*.evtx"))
NFLOG = (b'{"oob.time.sec": 1795844150, "oob.prefix": "harness-drop ", "src_ip": "198.51.100.250",'
         b' "dest_ip": "198.51.100.131", "ip.protocol": 6, "src_port": 40000, "dest_port": 443}\n')


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str],
         stdin: bytes | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(stdin))))
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _anonymous(out: str, arg: str) -> str:
    """Records name their input (meta.file, AdditionalFields): the same name for every variant."""
    if arg != "-":
        return out.replace(arg, "-")
    return out


def _variants(tmp_path: Path, source: Path) -> list[tuple[str, bytes | None]]:
    """(argument, stdin) for: the plain file, a .gz copy, plain stdin, gzip stdin."""
    data = source.read_bytes()
    gz = tmp_path / (source.name + ".gz")
    gz.write_bytes(gzip.compress(data))
    return [(str(source), None), (str(gz), None), ("-", data), ("-", gzip.compress(data))]


@pytest.mark.parametrize(
    ("fmt", "name", "extra"),
    [
        ("auditd", "audit", []),  # sigma view: the C reader pulls the bytes itself
        ("auditd", "audit", ["--view", "raw"]),
        ("auditd", "audit", ["--secret-file", "SECRETS"]),  # the redacting line path
        ("sysmon", "sysmon", ["--view", "defender"]),
        ("dnsmasq", "dnsmasq", ["--year", "2026"]),
        ("inet", "inet", []),
        ("squid", "squid", []),
        ("nflog", "nflog", []),
        ("evtx", "evtx", []),
    ],
)
def test_parse_reads_gzip_and_stdin_like_the_plain_file(
    fmt: str, name: str, extra: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nflog = tmp_path / "nflog.json"
    nflog.write_bytes(NFLOG)
    secrets = tmp_path / "secrets"
    secrets.write_text("198.51.100.130\n")
    source = {"audit": REC / "audit.log", "sysmon": REC / "sysmon.log", "dnsmasq": REC / "dnsmasq.log",
              "inet": REC / "fakeinet.jsonl", "squid": TEL / "squid-harness.log", "nflog": nflog, "evtx": EVTX}[name]
    extra = [str(secrets) if e == "SECRETS" else e for e in extra]
    outputs = []
    for arg, stdin in _variants(tmp_path, source):
        rc, out, err = _cli(capsys, monkeypatch, ["parse", "--format", fmt, arg, *extra], stdin)
        assert rc == 0 and out and "unparseable 0" in err, (arg, err)
        outputs.append(_anonymous(out, arg))
    assert outputs[1:] == outputs[:1] * 3
    if "--secret-file" in extra:
        assert "198.51.100.130" not in outputs[0]


def test_kql_table_reads_gzip_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    source = REPO / "tests" / "data" / "kql" / "lab-defender.jsonl"
    query = "DeviceProcessEvents | where FileName == 'nmap' | project ProcessCommandLine"
    outputs = []
    for arg, stdin in _variants(tmp_path, source):
        rc, out, err = _cli(capsys, monkeypatch, ["kql", query, "--table", f"DeviceProcessEvents={arg}"], stdin)
        assert rc == 0 and err == "", err
        outputs.append(out)
    assert "nmap -sn" in outputs[0] and outputs[1:] == outputs[:1] * 3


def test_sigma_match_reads_gzip_and_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    source = REPO / "tests" / "data" / "sigma" / "recording.jsonl"
    rules = str(REPO / "detections" / "sigma")
    outputs = []
    for arg, stdin in _variants(tmp_path, source):
        rc, out, _ = _cli(capsys, monkeypatch, ["sigma", "match", rules, "--events", arg], stdin)
        assert rc == 0
        outputs.append([{k: v for k, v in json.loads(line).items() if k != "file"} for line in out.splitlines()])
    assert outputs[0] and outputs[1:] == outputs[:1] * 3

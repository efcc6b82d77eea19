"""``harness parse`` (harness/cli/parse.py): shapes, input order, stderr summary, redaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

KEY = "FAKEKEY0123456789abcdef0123456"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    rc = main(["parse", *argv])
    out, err = capsys.readouterr()
    return rc, [json.loads(line) for line in out.splitlines()], err


def test_sysmon_sigma_and_defender(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    src = str(data / "sysmon-syslog.log")
    rc, rows, err = _run(capsys, "--format", "sysmon", src, "--view", "sigma")
    assert rc == 0 and len(rows) == 8 and "sysmon: read 8, parsed 8, unparseable 0" in err
    assert [r["meta"]["line"] for r in rows] == list(range(1, 9))  # input order kept
    assert rows[1]["logsource"]["category"] == "process_creation" and rows[1]["event"]["Image"] == "/usr/bin/nmap"
    rc, rows, _ = _run(capsys, "--format", "sysmon", src, "--view", "defender")
    assert rc == 0 and {r["table"] for r in rows} >= {"DeviceProcessEvents", "DeviceFileEvents"}


def test_auditd_views_with_context(capsys: pytest.CaptureFixture[str], recording: Path) -> None:
    audit = str(recording / "audit.log")
    rc, rows, err = _run(
        capsys,
        "--format",
        "auditd",
        audit,
        "--view",
        "sigma",
        "--dns",
        str(recording / "dnsmasq.log"),
        "--year",
        "2026",
    )
    assert rc == 0 and "auditd: read 963, parsed 266, unparseable 0" in err
    assert all(r["logsource"]["service"] != "auditd" for r in rows)  # raw records are opt-in on the CLI
    cmd = [r["event"]["CommandLine"] for r in rows if r["logsource"]["category"] == "process_creation"]
    assert "nmap -sn 198.51.100.128/28 -oX /tmp/atomic-nmap-sweep.xml" in cmd
    hosts = {r["event"].get("DestinationHostname") for r in rows if r["logsource"]["category"] == "network_connection"}
    assert {"whois.arin.net", "api.shodan.io", "bgp.he.net"} <= hosts
    rc, rows, _ = _run(capsys, "--format", "auditd", audit, "--view", "sigma", "--auditd-raw")
    assert sum(r["logsource"]["service"] == "auditd" for r in rows) == 963
    rc, rows, _ = _run(
        capsys,
        "--format",
        "auditd",
        audit,
        "--view",
        "defender",
        "--dns",
        str(recording / "dnsmasq.log"),
        "--public-range",
        "198.51.100.0/24",
        "--year",
        "2026",
    )
    net = [
        r["row"] for r in rows if r["table"] == "DeviceNetworkEvents" and r["row"].get("RemoteUrl") == "whois.arin.net"
    ]
    assert net and net[0]["RemoteIPType"] == "Public" and net[0]["ActionType"] == "ConnectionAttempt"


def test_raw_view_redacts_secrets(capsys: pytest.CaptureFixture[str], recording: Path) -> None:
    rc, rows, _ = _run(capsys, "--format", "auditd", str(recording / "audit.log"), "--view", "raw", "--secret", KEY)
    text = json.dumps(rows)
    assert rc == 0 and len(rows) == 266
    assert KEY not in text and KEY.encode().hex().upper() not in text and "[REDACTED]" in text
    rc, rows, _ = _run(
        capsys, "--format", "inet", str(recording / "fakeinet.jsonl"), "--view", "sigma", "--secret", KEY
    )
    assert KEY not in json.dumps(rows)
    assert any(r["event"].get("c-uri-query") == "key=[REDACTED]" for r in rows)


def test_secret_file_and_environment_redact_like_secret(
    capsys: pytest.CaptureFixture[str], recording: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret on the command line shows in the process list: a file or the environment do not."""
    audit = str(recording / "audit.log")
    _, by_arg, _ = _run(capsys, "--format", "auditd", audit, "--view", "raw", "--secret", KEY)
    secrets = tmp_path / "secrets"
    secrets.write_text(f"\n{KEY}\r\n", encoding="utf-8")  # blank lines and CRLF ignored
    _, by_file, _ = _run(capsys, "--format", "auditd", audit, "--view", "raw", "--secret-file", str(secrets))
    monkeypatch.setenv("RECON_HARNESS_SECRETS", KEY)
    _, by_env, _ = _run(capsys, "--format", "auditd", audit, "--view", "raw")
    assert KEY not in json.dumps(by_file) and by_file == by_arg == by_env
    monkeypatch.delenv("RECON_HARNESS_SECRETS")
    _, plain, _ = _run(capsys, "--format", "auditd", audit, "--view", "raw")
    assert plain != by_file  # the redaction did something
    rc = main(["parse", "--format", "auditd", audit, "--secret-file", str(tmp_path / "absent")])
    assert rc == 2 and "--secret-file" in capsys.readouterr().err
    secrets.write_text("abc\n", encoding="utf-8")
    rc = main(["parse", "--format", "auditd", audit, "--secret-file", str(secrets)])
    err = capsys.readouterr().err
    assert rc == 2 and err == "harness: error: cannot redact: secret too short to redact safely (3 characters)\n"


def test_help_warns_against_secret_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["parse", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--secret-file FILE" in text and "$RECON_HARNESS_SECRETS" in text
    assert "WARNING: a value on the command line is visible to other users in the process list" in text


def test_garbage_is_reported_and_missing_file_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.log"
    bad.write_text("garbage\nmore garbage\n", encoding="utf-8")
    rc, rows, err = _run(capsys, "--format", "auditd", str(bad))
    assert rc == 1 and rows == []
    assert f"{bad}:1: not an audit record" in err and "unparseable 2" in err
    rc = main(["parse", "--format", "auditd", str(tmp_path / "missing.log")])
    assert rc == 2 and "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("secret", [None, "ffffff9c"])
def test_auditd_sigma_output_is_the_reference_view(capsys: pytest.CaptureFixture[str], recording: Path,
                                                    secret: str | None) -> None:
    """What the CLI prints (C reader and view, or the line path when redacting) is the pure-Python
    view of the same records, line for line, with the resolver context."""
    from harness.telemetry.parsers import ParseStats, auditd, dnsmasq, open_lines
    from harness.telemetry.redaction import Redactor
    from harness.views.context import ViewContext
    from harness.views.sigma import SigmaView

    audit, dns = recording / "audit.log", recording / "dnsmasq.log"
    argv = ["--format", "auditd", str(audit), "--view", "sigma", "--auditd-raw", "--dns", str(dns), "--year", "2026"]
    rc, rows, _ = _run(capsys, *argv, *(["--secret", secret] if secret else []))
    red = Redactor([secret]) if secret else None

    def lines(p: Path) -> Iterable[str]:
        return red.redact_lines(open_lines(p)) if red else open_lines(p)

    view = SigmaView(ViewContext(), accelerated=False)
    view.extractor.prepare(list(dnsmasq.parse(lines(dns), file=str(dns), year=2026)))
    recs = auditd.parse(lines(audit), file=str(audit), stats=ParseStats("auditd"), accelerated=False)
    want = [json.loads(json.dumps(ev)) for rec in recs for ev in view.events(rec)]
    assert rc == 0 and len(rows) > 963 and rows == want
    if secret:
        assert secret not in json.dumps(rows) and secret in audit.read_text()

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from harness.telemetry.parsers import ParseStats, auditd, inet
from harness.telemetry.parsers.auditd import execve_argv
from harness.telemetry.redaction import MARKER, Redactor

KEY = "FAKEKEY0123456789abcdef0123456"


def _all_forms(key: str) -> list[str]:
    raw = key.encode()
    return [key, raw.hex(), raw.hex().upper(), quote(key, safe="")]


def test_every_form_is_replaced() -> None:
    r = Redactor([KEY])
    text = " | ".join(_all_forms(KEY)) + f" | GET /api-info?key={KEY}&x=1"
    out = r.redact(text)
    for form in _all_forms(KEY):
        assert form not in out
    assert r.leaks(out) == []
    assert out.count(MARKER) >= 2 and MARKER.encode().hex().upper() in out


def test_unknown_credential_query_values_and_audit_key_field() -> None:
    r = Redactor([])
    out = r.redact('url=/x?apikey=s3cr3t&token=abc "query": "key=zzz" key="sysrec_lab_1128"')
    assert "s3cr3t" not in out and "abc" not in out and "zzz" not in out
    assert 'key="sysrec_lab_1128"' in out  # auditd's rule key is not a credential


def test_short_secret_refused() -> None:
    with pytest.raises(ValueError):
        Redactor(["ab"])


def test_real_recording_redacted_then_parsed(recording: Path, tmp_path: Path) -> None:
    r = Redactor([KEY])
    for name in ("audit.log", "sysmon.log", "fakeinet.jsonl", "audit-context.log", "dnsmasq.log"):
        src = recording / name
        dst = tmp_path / name
        r.redact_file(src, dst)
        data = dst.read_bytes()
        for form in _all_forms(KEY):
            assert form.encode() not in data, (name, form)
    # The redacted audit log still parses, and the argument decodes to the marker.
    with open(tmp_path / "audit.log", encoding="utf-8", newline="") as fh:
        events = list(auditd.parse(fh))
    argvs = [execve_argv(x) for e in events for x in e.fields["records"] if x["type"] == "EXECVE"]
    assert ["bash", "-c", f"shodan init {MARKER}"] in argvs
    assert ["/opt/labrec/labvenv/bin/python3", "/opt/labrec/labvenv/bin/shodan", "init", MARKER] in argvs
    st = ParseStats("inet")
    with open(tmp_path / "fakeinet.jsonl", encoding="utf-8") as fh:
        reqs = list(inet.parse(fh, stats=st))
    assert st.unparseable == 0
    assert {x.fields.get("query") for x in reqs if x.fields.get("path") == "/api-info"} == {f"key={MARKER}"}

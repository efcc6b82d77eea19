"""Engine behaviour: the prefilter never loses a match, errors carry file/line/column, matches
carry their input positions."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from harness.rules.sigma import SigmaEngine
from harness.rules.sigma.compiler import Logsource

ROOT = Path(__file__).resolve().parents[3]
CORPUS_LINUX = ROOT / "tests" / "data" / "sigmahq" / "rules" / "linux"
RECORDING = ROOT / "tests" / "data" / "sigma" / "recording.jsonl"


def _brute_force(engine: SigmaEngine, records: list[dict[str, Any]]) -> list[tuple[int, str]]:
    out = []
    for i, rec in enumerate(records):
        ls = rec["logsource"]
        key = Logsource.of(ls.get("product"), ls.get("category"), ls.get("service"))
        for rule in engine.rules:
            if rule.logsource.covers(key) and rule.matches(rec["event"]):
                out.append((i, rule.rule_id))
    return sorted(out)


def _mutations(records: list[dict[str, Any]], seed: int = 3) -> list[dict[str, Any]]:
    """The recording plus events carrying the corpus' own suspicious strings, shuffled across
    fields, so rules do match and the prefilter is exercised on positives too."""
    rnd = random.Random(seed)
    needles = ["base64 -d", "/dev/tcp/", "chmod +x /tmp/", "nc -e /bin/sh", "history -c", "crontab -r",
               "python -c 'import pty", "/etc/shadow", "wget http", "iptables -F", "setenforce 0",
               "nohup", "/var/log/wtmp", "LD_PRELOAD=", "rm -rf /"]
    out = list(records)
    for rec in records[:200]:
        ev = dict(rec["event"])
        for key in list(ev)[:3]:
            if isinstance(ev[key], str):
                ev[key] = ev[key] + " " + rnd.choice(needles).upper()
        out.append({"logsource": rec["logsource"], "event": ev})
    return out


def test_prefilter_never_loses_a_match() -> None:
    engine = SigmaEngine.from_paths([CORPUS_LINUX, ROOT / "detections" / "sigma"])
    records = _mutations([json.loads(line) for line in RECORDING.read_text().splitlines()])
    # Rules a correlation names are its inputs: they may not be output on their own (generate: false).
    inputs = {name for corr in engine.correlations for name in corr.rule_names}
    assert "c3b3a0a4-5d55-4d8e-9d7f-6a1f0c2e8b41" in inputs
    fast = sorted((m.index, m.rule_id) for m in engine.match(records)
                  if m.correlation_type is None and m.rule_id not in inputs)
    slow = [(i, rid) for i, rid in _brute_force(engine, records) if rid not in inputs]
    assert fast == slow
    assert len(fast) > 20  # the comparison is not vacuous
    assert engine.stats.evaluated < engine.stats.pairs  # and the prefilter did skip work


def test_match_reports_positions_and_events(make_engine: Any) -> None:
    engine: SigmaEngine = make_engine("""
        title: t
        id: 6b9e1c2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d
        status: test
        logsource:
            product: linux
            category: process_creation
        detection:
            selection:
                Image|endswith: '/nmap'
            condition: selection
        level: high
        """)
    recs = [{"logsource": {"product": "linux", "category": "process_creation"}, "event": {"Image": i}}
            for i in ("/bin/ls", "/usr/bin/nmap", "/usr/bin/NMAP")]
    out = [m.to_dict() for m in engine.match(recs)]
    assert [(o["index"], o["rule_id"], o["level"], o["event"]["Image"]) for o in out] == [
        (1, "6b9e1c2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d", "high", "/usr/bin/nmap"),
        (2, "6b9e1c2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d", "high", "/usr/bin/NMAP"),
    ]


BROKEN = {
    "unknown_modifier.yml": ("""title: bad modifier
id: 7c0e1d2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a
status: test
logsource:
    product: linux
detection:
    selection:
        Image|endswiths: '/nmap'
    condition: selection
""", 8),
    "undefined_identifier.yml": ("""title: bad condition
id: 8d1f2e3b-4c5d-4e6f-9a7b-8c9d0e1f2a3b
status: test
logsource:
    product: linux
detection:
    selection:
        Image: x
    condition: selection and filter
""", None),
    "yaml_syntax.yml": ("""title: broken yaml
detection:
    selection: [unclosed
""", 4),  # PyYAML's problem mark: the end of the stream; the reason names where the list began
    "bad_regex.yml": ("""title: bad regex
id: 9e2a3f4c-5d6e-4f7a-8b8c-9d0e1f2a3b4c
status: test
logsource:
    product: linux
detection:
    selection:
        CommandLine|re: 'a(b'
    condition: selection
""", 8),
}


def test_problems_name_file_line_and_column(tmp_path: Path) -> None:
    for name, (text, _) in BROKEN.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "good.yml").write_text(BROKEN["unknown_modifier.yml"][0].replace("endswiths", "endswith")
                                       .replace("7c0e1d2a", "1c0e1d2a"))
    engine = SigmaEngine.from_paths([tmp_path])
    assert len(engine.rules) == 1  # the good rule is kept; nothing collected is lost
    by_file = {Path(p.location.path).name: p for p in engine.problems}
    assert set(by_file) == set(BROKEN)
    for name, (_, line) in BROKEN.items():
        problem = by_file[name]
        assert problem.location.line is not None and problem.location.column is not None, str(problem)
        if line is not None:
            assert problem.location.line == line, str(problem)
        assert problem.reason
    assert "endswiths" in by_file["unknown_modifier.yml"].reason
    assert "filter" in by_file["undefined_identifier.yml"].reason
    assert "line 3, column 16" in by_file["yaml_syntax.yml"].reason
    assert by_file["undefined_identifier.yml"].location.line == 9  # the condition line
    from harness.errors import ErrorCollection

    with pytest.raises(ErrorCollection) as info:
        engine.raise_on_problems()
    assert len(info.value.errors) == len(BROKEN)


def test_cli_check_and_match(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    rules = ROOT / "detections" / "sigma"
    assert main(["sigma", "check", str(rules)]) == 0
    out = capsys.readouterr().out
    assert "0 unsupported, 0 invalid" in out
    (tmp_path / "bad.yml").write_text(BROKEN["unknown_modifier.yml"][0])
    assert main(["sigma", "check", str(tmp_path / "bad.yml")]) != 0
    assert "bad.yml:8:" in capsys.readouterr().out

    assert main(["sigma", "match", str(rules), "--events", str(RECORDING)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all({"rule_id", "title", "level", "index", "event"} <= set(r) for r in rows)
    corr = [r for r in rows if r.get("correlation_type")]
    assert corr and all(len(r["event_indexes"]) >= 10 for r in corr)
    events = RECORDING.read_text().splitlines()
    first = rows[0]
    assert json.loads(events[first["index"]])["event"] == first["event"]


def test_cli_match_reports_bad_json_with_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    bad = tmp_path / "events.jsonl"
    bad.write_text('{"logsource": {}, "event": {}}\n{not json\n')
    rc = main(["sigma", "match", str(ROOT / "detections" / "sigma"), "--events", str(bad)])
    assert rc == 2
    assert f"{bad}:2:" in capsys.readouterr().err


def test_cli_placeholders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    rule = tmp_path / "admins.yml"
    rule.write_text("""title: admin logon
id: 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
status: test
logsource:
    product: test
detection:
    selection:
        User|expand: '%Administrators%'
    condition: selection
level: low
""")
    events = tmp_path / "ev.jsonl"
    events.write_text("\n".join(json.dumps({"logsource": {"product": "test"}, "event": {"User": u}})
                                for u in ("root", "bob", "admin")) + "\n")
    assert main(["sigma", "check", str(rule)]) == 1  # placeholder without values: unsupported, says why
    assert "%Administrators%" in capsys.readouterr().out
    rc = main(["sigma", "match", str(rule), "--events", str(events), "--placeholder", "Administrators=root,admin"])
    assert rc == 0
    assert [json.loads(line)["index"] for line in capsys.readouterr().out.splitlines()] == [0, 2]


def test_records_without_event_object_are_counted_not_fatal() -> None:
    engine = SigmaEngine.from_paths([ROOT / "detections" / "sigma" / "proc_creation_lnx_nmap_ping_sweep.yml"])
    recs: list[dict[str, Any]] = [
        {"logsource": {"product": "linux", "category": "process_creation"}, "event": None},
        {"logsource": "garbage", "event": {"Image": "/usr/bin/nmap", "CommandLine": "nmap -sn x"}},
        {"logsource": {"product": "linux", "category": "process_creation"},
         "event": {"Image": "/usr/bin/nmap", "CommandLine": "nmap -sn x"}},
    ]
    assert [m.index for m in engine.match(recs)] == [2]
    assert engine.stats.malformed == 1 and engine.stats.events == 3

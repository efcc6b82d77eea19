"""Conformance with the Sigma specification v2 (rules, modifiers appendix, correlations, filters),
using the specification's own examples wherever it gives one."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from harness.rules.sigma import SigmaEngine

Match = Callable[..., list[int]]

# --- general: case, wildcards, escapes, null vs empty, lists and maps --------------------------


def test_values_are_case_insensitive(match_detection: Match) -> None:
    det = """
    keywords:
        - 'EVILSERVICE'
        - 'svchost.exe -n evil'
    condition: keywords
    """
    events = [{"msg": "started evilservice now"}, {"msg": "SVCHOST.EXE -N EVIL"}, {"msg": "svchost.exe"}]
    assert match_detection(det, events) == [0, 1]


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("prog?.exe", "progA.exe", True),  # spec: progA.exe or progB.exe -> prog?.exe
        ("prog?.exe", "progB.exe", True),
        ("prog?.exe", "progAB.exe", False),  # ? is exactly one character
        ("prog?.exe", "prog.exe", False),
        ("antivirus_V*.exe", "antivirus_V1.exe", True),  # spec: antivirus_V*.exe
        ("antivirus_V*.exe", "antivirus_V21.2.1.exe", True),
        ("antivirus_V*.exe", "antivirus_V.exe", True),  # * may be empty
        ("antivirus_V*.exe", "xantivirus_V1.exe", False),  # a value matches the whole field
        ("admin", "administrator", False),  # no implicit contains on fields
    ],
)
def test_wildcards(match_detection: Match, pattern: str, value: str, expected: bool) -> None:
    det = f"""
    selection:
        Image: '{pattern}'
    condition: selection
    """
    assert match_detection(det, [{"Image": value}]) == ([0] if expected else [])


# The specification's escaping table. YAML single quotes keep backslashes as they are.
@pytest.mark.parametrize(
    ("yaml_value", "matches", "does_not_match"),
    [
        # plain backslash not followed by a wildcard: single or double backslash
        (r"C:\Windows\System32\cmd.exe", r"C:\Windows\System32\cmd.exe", r"C:\Windows\System32\cmdXexe"),
        (r"C:\\Windows\\System32\\cmd.exe", r"C:\Windows\System32\cmd.exe", r"C:\\Windows\\System32\\cmd.exe"),
        # a wildcard escaped is a plain character
        (r"a\*b", "a*b", "aXb"),
        (r"a\?b", "a?b", "aXb"),
        # escaped backslash followed by a wildcard: backslash then wildcard
        (r"C:\\*", "C:\\Users", "C:Users"),
        # three backslashes before a wildcard: plain backslash and plain wildcard
        (r"C:\\\*", "C:\\*", "C:\\Users"),
        # three or four backslashes: a double backslash
        (r"\\\\server", "\\\\server", "\\server"),
        (r"\\\server", "\\\\server", "\\server"),
    ],
)
def test_escaping_table(match_detection: Match, yaml_value: str, matches: str, does_not_match: str) -> None:
    det = f"""
    selection:
        Path: '{yaml_value}'
    condition: selection
    """
    assert match_detection(det, [{"Path": matches}, {"Path": does_not_match}]) == [0]


def test_null_versus_empty(match_detection: Match) -> None:
    null_det = """
    selection:
        EventID: 4738
    filter:
        PasswordLastSet: null
    condition: selection and not filter
    """
    events = [
        {"EventID": 4738},  # field absent: null -> filtered
        {"EventID": 4738, "PasswordLastSet": None},  # JSON null -> filtered
        {"EventID": 4738, "PasswordLastSet": ""},  # empty is not null -> kept
        {"EventID": 4738, "PasswordLastSet": "2024-01-01"},
    ]
    assert match_detection(null_det, events) == [2, 3]
    empty_det = """
    selection:
        PasswordLastSet: ''
    condition: selection
    """
    assert match_detection(empty_det, events) == [2]


def test_exists(match_detection: Match) -> None:
    det = """
    selection:
        EventID: 4738
        PasswordLastSet|exists: true
    condition: selection
    """
    events = [{"EventID": 4738}, {"EventID": 4738, "PasswordLastSet": None}, {"EventID": 4738, "PasswordLastSet": "x"}]
    assert match_detection(det, events) == [1, 2]  # presence only, value irrelevant (even null)
    det_false = """
    selection:
        PasswordLastSet|exists: false
    condition: selection
    """
    assert match_detection(det_false, events) == [0]


def test_maps_and_lists(match_detection: Match) -> None:
    # spec: EventLog 'Security' and (EventID 517 or EventID 1102)
    det = """
    selection:
        EventLog: Security
        EventID:
            - 517
            - 1102
    condition: selection
    """
    events = [
        {"EventLog": "Security", "EventID": 517},
        {"EventLog": "Security", "EventID": "1102"},  # numbers compare with numeric strings
        {"EventLog": "System", "EventID": 517},
        {"EventLog": "Security", "EventID": 4624},
    ]
    assert match_detection(det, events) == [0, 1]


def test_list_of_maps_is_ored(match_detection: Match) -> None:
    det = r"""
    selection:
        - Image|endswith: '\example.exe'
        - Description|contains: 'Test executable'
    condition: selection
    """
    events = [
        {"Image": r"C:\x\example.exe"},
        {"Description": "A Test executable here"},
        {"Image": r"C:\x\other.exe", "Description": "other"},
    ]
    assert match_detection(det, events) == [0, 1]


def test_keywords_and_all_keywords(match_detection: Match) -> None:
    det = """
    mimikatz_keywords:
        - 'event::clear'
        - 'event::drop'
    condition: mimikatz_keywords
    """
    events = [{"a": "x event::clear y"}, {"b": {"nested": "EVENT::DROP"}}, {"a": "event:clear"}]
    assert match_detection(det, events) == [0, 1]
    det_all = """
    keywords_cmdlet:
        '|all':
            - 'OabVirtualDirectory'
            - ' -ExternalUrl '
    condition: keywords_cmdlet
    """
    events = [
        {"cmd": "Set-OabVirtualDirectory -ExternalUrl 'x'"},
        {"cmd": "Set-OabVirtualDirectory"},
        {"cmd": "Set-OabVirtualDirectory", "other": "a -ExternalUrl b"},  # across fields of the event
    ]
    assert match_detection(det_all, events) == [0, 2]


def test_list_valued_event_field(match_detection: Match) -> None:
    det = """
    selection:
        Tags|contains: 'evil'
    condition: selection
    """
    assert match_detection(det, [{"Tags": ["good", "EVIL-1"]}, {"Tags": ["good"]}]) == [0]


def test_nested_field_by_dotted_name(match_detection: Match) -> None:
    det = """
    selection:
        userIdentity.type: Root
    condition: selection
    """
    assert match_detection(det, [{"userIdentity": {"type": "root"}}, {"userIdentity": {"type": "IAMUser"}}]) == [0]


# --- modifiers (Sigma modifiers appendix) -------------------------------------------------------


def test_contains_startswith_endswith(match_detection: Match) -> None:
    det = r"""
    sel_contains:
        CommandLine|contains: 'ExternalUrl'
    sel_start:
        User|startswith: 'adm'
    sel_end:
        Image|endswith: '\cmd.exe'
    condition: 1 of sel_*
    """
    events = [
        {"CommandLine": "x -externalurl y"},
        {"User": "Administrator"},
        {"Image": r"C:\Windows\System32\CMD.EXE"},
        {"User": "root", "Image": r"C:\cmd.exe.bak", "CommandLine": "nothing"},
    ]
    assert match_detection(det, events) == [0, 1, 2]


def test_all_modifier_ands_the_list(match_detection: Match) -> None:
    det = """
    selection:
        CommandLine|contains|all:
            - ' -sn '
            - 'nmap'
    condition: selection
    """
    assert match_detection(det, [{"CommandLine": "nmap -sn 10.0.0.0/24"}, {"CommandLine": "nmap -sV x"}]) == [0]


def test_base64(match_detection: Match) -> None:
    det = """
    selection:
        Payload|base64: 'abc'
    condition: selection
    """
    assert base64.b64encode(b"abc") == b"YWJj"
    # base64 output is matched case-sensitively? No: Sigma values stay case-insensitive.
    assert match_detection(det, [{"Payload": "YWJj"}, {"Payload": "YWJk"}]) == [0]


def test_base64offset_contains(match_detection: Match) -> None:
    det = """
    selection:
        CommandLine|base64offset|contains: '/bin/bash'
    condition: selection
    """
    events = [
        {"CommandLine": "echo " + base64.b64encode(prefix + b"/bin/bash -i").decode() + " | base64 -d"}
        for prefix in (b"", b"x", b"xy")
    ] + [{"CommandLine": "echo " + base64.b64encode(b"/bin/sh -i").decode()}]
    assert match_detection(det, events) == [0, 1, 2]


@pytest.mark.parametrize(
    ("encoding", "text", "expected"),
    [
        ("wide", "cmd", "c\x00m\x00d\x00"),  # spec: cmd > 63 00 6d 00 64 00
        ("utf16le", "cmd", "c\x00m\x00d\x00"),
        ("utf16be", "cmd", "\x00c\x00m\x00d"),  # spec: 00 63 00 6d 00 64
        # spec: FF FE 63 00 6d 00 64 00; pySigma keeps the byte order mark as the character U+FEFF
        ("utf16", "cmd", "\ufeffc\x00m\x00d\x00"),
    ],
)
def test_utf16_encodings(match_detection: Match, encoding: str, text: str, expected: str) -> None:
    if not _has_modifier(encoding):
        pytest.skip(f"pySigma 2.0.1 has no '{encoding}' modifier (it spells UTF-16LE 'wide')")
    det = f"""
    selection:
        Data|{encoding}: '{text}'
    condition: selection
    """
    assert match_detection(det, [{"Data": expected}, {"Data": text}]) == [0]


def _has_modifier(name: str) -> bool:
    from sigma.modifiers import modifier_mapping

    return name in modifier_mapping


def test_wide_base64offset_powershell_encoded_command(match_detection: Match) -> None:
    det = """
    selection:
        CommandLine|wide|base64offset|contains: 'Invoke-Mimikatz'
    condition: selection
    """
    enc = base64.b64encode("IEX (Invoke-Mimikatz -DumpCreds)".encode("utf-16le")).decode()
    assert match_detection(det, [{"CommandLine": f"powershell -enc {enc}"}, {"CommandLine": "powershell"}]) == [0]


def test_windash(match_detection: Match) -> None:
    det = """
    selection:
        CommandLine|windash|contains: ' -exec bypass'
    condition: selection
    """
    events = [{"CommandLine": f"powershell {d}exec bypass"} for d in ("-", "/", "\u2013", "\u2014", "\u2015")]
    events.append({"CommandLine": "powershell +exec bypass"})
    assert match_detection(det, events) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("mods", "regex", "value", "expected"),
    [
        ("re", "^foo.*bar$", "foo123bar", True),
        ("re", "^foo", "FOO", False),  # case-sensitive by default
        ("re|i", "^foo", "FOO", True),
        ("re", "oo", "xfooy", True),  # unanchored search
        ("re", "^b", "a\nb", False),
        ("re|m", "^b", "a\nb", True),
        ("re", "a.b", "a\nb", False),
        ("re|s", "a.b", "a\nb", True),
    ],
)
def test_regular_expressions(match_detection: Match, mods: str, regex: str, value: str, expected: bool) -> None:
    det = f"""
    selection:
        Field|{mods}: '{regex}'
    condition: selection
    """
    assert match_detection(det, [{"Field": value}]) == ([0] if expected else [])


def test_cidr(match_detection: Match) -> None:
    det = """
    selection:
        DestinationIp|cidr:
            - 10.0.0.0/8
            - 'fd00::/8'
    condition: selection
    """
    events = [{"DestinationIp": "10.1.2.3"}, {"DestinationIp": "11.0.0.1"}, {"DestinationIp": "fd12::1"},
              {"DestinationIp": "not-an-ip"}]
    assert match_detection(det, events) == [0, 2]


def test_cased(match_detection: Match) -> None:
    det = """
    selection:
        Image|cased: 'CMD.exe'
    condition: selection
    """
    assert match_detection(det, [{"Image": "CMD.exe"}, {"Image": "cmd.exe"}]) == [0]


def test_neq_strings_and_numbers(match_detection: Match) -> None:
    det = """
    selection:
        EventID: 1
        User|neq: 'root'
    condition: selection
    """
    assert match_detection(det, [{"EventID": 1, "User": "ROOT"}, {"EventID": 1, "User": "bob"}]) == [1]
    det_num = """
    selection:
        Port|neq: 443
    condition: selection
    """
    assert match_detection(det_num, [{"Port": 443}, {"Port": "80"}]) == [1]


@pytest.mark.parametrize(
    ("mod", "expected"),
    [("lt", [0]), ("lte", [0, 1]), ("gt", [2]), ("gte", [1, 2])],
)
def test_numeric_comparisons(match_detection: Match, mod: str, expected: list[int]) -> None:
    det = f"""
    selection:
        Count|{mod}: 10
    condition: selection
    """
    assert match_detection(det, [{"Count": 9}, {"Count": "10"}, {"Count": 11.5}, {"Count": "n/a"}]) == expected


def test_fieldref(match_detection: Match) -> None:
    det = """
    selection:
        User|fieldref: TargetUser
    condition: selection
    """
    events = [{"User": "Bob", "TargetUser": "bob"}, {"User": "bob", "TargetUser": "alice"}, {"User": "bob"}]
    assert match_detection(det, events) == [0]
    det_neq = """
    selection:
        User|fieldref|neq: TargetUser
    condition: selection
    """
    assert match_detection(det_neq, events[:2]) == [1]


def test_expand_placeholders_from_configuration(match_detection: Match, make_engine: Any) -> None:
    det = """
    selection:
        User|expand: '%Administrators%'
    condition: selection
    """
    events = [{"User": "admin"}, {"User": "root"}, {"User": "bob"}]
    assert match_detection(det, events, placeholders={"Administrators": ["admin", "root"]}) == [0, 1]


def test_expand_without_configuration_is_unsupported_with_reason(make_engine: Any) -> None:
    engine: SigmaEngine = make_engine(
        """
        title: placeholder
        id: 2f4c8a0e-1b7d-4c3e-9f5a-6d8e7c9b0a1f
        status: test
        logsource:
            product: test
        detection:
            selection:
                User|expand: '%Administrators%'
            condition: selection
        level: low
        """
    )
    assert not engine.rules
    (problem,) = engine.problems
    assert problem.kind == "unsupported"
    assert "%Administrators%" in problem.reason
    assert problem.location.line == 9  # the detection item's line, filled from the YAML


def test_time_modifiers(match_detection: Match) -> None:
    det = """
    selection:
        Timestamp|hour: 5
    condition: selection
    """
    events = [{"Timestamp": "2026-11-28T05:35:50.134Z"}, {"Timestamp": "2026-11-28T06:00:00Z"}]
    assert match_detection(det, events) == [0]


# --- conditions ---------------------------------------------------------------------------------

_CONDITIONS = [
    ("a or b and c", lambda a, b, c: a or (b and c)),
    ("a and b or c", lambda a, b, c: (a and b) or c),
    ("not a and b", lambda a, b, c: (not a) and b),
    ("not a or b", lambda a, b, c: (not a) or b),
    ("not (a or b) and c", lambda a, b, c: (not (a or b)) and c),
    ("a and (b or c)", lambda a, b, c: a and (b or c)),
    ("a and not b and not c", lambda a, b, c: a and not b and not c),
    ("not not a", lambda a, b, c: a),
]


@pytest.mark.parametrize(("condition", "truth"), _CONDITIONS, ids=[c for c, _ in _CONDITIONS])
def test_condition_precedence(match_detection: Match, condition: str, truth: Callable[..., bool]) -> None:
    det = f"""
    a:
        A: 'yes'
    b:
        B: 'yes'
    c:
        C: 'yes'
    condition: {condition}
    """
    combos = list(itertools.product([False, True], repeat=3))
    events = [{"A": "yes" if x else "no", "B": "yes" if y else "no", "C": "yes" if z else "no"} for x, y, z in combos]
    expected = [i for i, (x, y, z) in enumerate(combos) if truth(x, y, z)]
    assert match_detection(det, events) == expected


def test_one_of_and_all_of_patterns_and_them(match_detection: Match) -> None:
    base = """
    selection_a:
        A: 'yes'
    selection_b:
        B: 'yes'
    _internal:
        C: 'yes'
    """
    combos = list(itertools.product([False, True], repeat=3))
    events = [{"A": "yes" if x else "no", "B": "yes" if y else "no", "C": "yes" if z else "no"} for x, y, z in combos]

    def expect(f: Callable[[bool, bool, bool], bool]) -> list[int]:
        return [i for i, c in enumerate(combos) if f(*c)]

    assert match_detection(base + "condition: 1 of selection_*", events) == expect(lambda a, b, c: a or b)
    assert match_detection(base + "condition: all of selection_*", events) == expect(lambda a, b, c: a and b)
    # `them` excludes identifiers starting with an underscore
    assert match_detection(base + "condition: 1 of them", events) == expect(lambda a, b, c: a or b)
    assert match_detection(base + "condition: all of them", events) == expect(lambda a, b, c: a and b)
    assert match_detection(base + "condition: all of them and not _internal", events) == expect(
        lambda a, b, c: a and b and not c
    )
    # spec examples: `1 of selection* and keywords`, `1 of selection* and not 1 of filter*`
    det = """
    selection1:
        A: 'yes'
    selection2:
        B: 'yes'
    filter1:
        C: 'yes'
    condition: 1 of selection* and not 1 of filter*
    """
    assert match_detection(det, events) == expect(lambda a, b, c: (a or b) and not c)


def test_condition_list_is_ored(match_detection: Match) -> None:
    det = """
    a:
        A: 'yes'
    b:
        B: 'yes'
    condition:
        - a
        - b
    """
    assert match_detection(det, [{"A": "yes"}, {"B": "yes"}, {"A": "no"}]) == [0, 1]


# --- correlations -------------------------------------------------------------------------------

BASE_LOGIN = """
title: Failed login
id: 0e95725d-7320-415d-80f7-004da920fc11
name: failed_login
status: test
logsource:
    product: test
detection:
    selection:
        action: failed
    condition: selection
level: low
"""
BASE_SUCCESS = """
title: Successful login
id: 1e95725d-7320-415d-80f7-004da920fc12
name: success_login
status: test
logsource:
    product: test
detection:
    selection:
        action: success
    condition: selection
level: low
"""


def _corr(body: str, generate: bool = False) -> str:
    return f"""
title: correlation
id: 2e95725d-7320-415d-80f7-004da920fc13
status: test
correlation:
{body}
level: high
"""


def _events(rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {"logsource": {"product": "test"}, "event": e, "meta": {"time": f"2026-11-28T05:{t // 60:02d}:{t % 60:02d}Z"}}
        for t, e in rows
    ]


def _corr_matches(make_engine: Any, body: str, rows: list[tuple[int, dict[str, Any]]]) -> list[Any]:
    engine: SigmaEngine = make_engine(BASE_LOGIN, BASE_SUCCESS, _corr(body))
    assert not engine.problems, [str(p) for p in engine.problems]
    return [m for m in engine.match(_events(rows)) if m.correlation_type]


def test_event_count_with_group_by_and_timespan(make_engine: Any) -> None:
    body = """
    type: event_count
    rules:
        - failed_login
    group-by:
        - user
    timespan: 1m
    condition:
        gte: 3
"""
    rows = [(0, {"action": "failed", "user": "a"}), (10, {"action": "failed", "user": "b"}),
            (20, {"action": "failed", "user": "a"}), (30, {"action": "failed", "user": "a"}),
            (40, {"action": "failed", "user": "b"}), (200, {"action": "failed", "user": "b"})]
    (m,) = _corr_matches(make_engine, body, rows)
    assert m.event_indexes == (0, 2, 3) and m.group == {"user": "a"} and m.level == "high"
    # the same events spread beyond the timespan do not fire
    spread = [(0, rows[0][1]), (61, rows[2][1]), (122, rows[3][1])]
    assert _corr_matches(make_engine, body, spread) == []


def test_event_count_lt_fires_on_quiet_windows(make_engine: Any) -> None:
    body = """
    type: event_count
    rules:
        - failed_login
    group-by:
        - user
    timespan: 1m
    condition:
        lt: 2
"""
    rows = [(0, {"action": "failed", "user": "a"}), (5, {"action": "failed", "user": "a"}),
            (10, {"action": "failed", "user": "b"})]
    (m,) = _corr_matches(make_engine, body, rows)
    assert m.group == {"user": "b"} and m.event_indexes == (2,)


def test_value_count(make_engine: Any) -> None:
    body = """
    type: value_count
    rules:
        - failed_login
    group-by:
        - src
    timespan: 5m
    condition:
        gte: 3
        field: user
"""
    rows = [(0, {"action": "failed", "src": "h1", "user": "a"}), (1, {"action": "failed", "src": "h1", "user": "a"}),
            (2, {"action": "failed", "src": "h1", "user": "b"}), (3, {"action": "failed", "src": "h2", "user": "c"}),
            (4, {"action": "failed", "src": "h1", "user": "c"})]
    (m,) = _corr_matches(make_engine, body, rows)
    assert m.group == {"src": "h1"} and m.event_indexes == (0, 1, 2, 4)


def test_temporal_and_temporal_ordered(make_engine: Any) -> None:
    temporal = """
    type: temporal
    rules:
        - failed_login
        - success_login
    group-by:
        - user
    timespan: 1m
"""
    # success first, then failure: temporal fires, temporal_ordered does not
    rows = [(0, {"action": "success", "user": "a"}), (5, {"action": "failed", "user": "a"})]
    (m,) = _corr_matches(make_engine, temporal, rows)
    assert m.event_indexes == (0, 1)
    ordered = temporal.replace("type: temporal", "type: temporal_ordered")
    assert _corr_matches(make_engine, ordered, rows) == []
    rows_in_order = [(0, {"action": "failed", "user": "a"}), (5, {"action": "success", "user": "a"})]
    assert [m.event_indexes for m in _corr_matches(make_engine, ordered, rows_in_order)] == [(0, 1)]
    # different users never join
    rows_other = [(0, {"action": "failed", "user": "a"}), (5, {"action": "success", "user": "b"})]
    assert _corr_matches(make_engine, temporal, rows_other) == []


def test_temporal_match_takes_in_the_groups_later_events_within_its_timespan(make_engine: Any) -> None:
    temporal = """
    type: temporal
    rules:
        - failed_login
        - success_login
    group-by:
        - user
    timespan: 1m
"""
    # The same outcome reported twice (two sensors), then once more after the timespan.
    rows = [(0, {"action": "failed", "user": "a"}), (1, {"action": "success", "user": "a"}),
            (2, {"action": "success", "user": "a"}), (3, {"action": "failed", "user": "b"}),
            (30, {"action": "success", "user": "a"}), (90, {"action": "success", "user": "a"})]
    (m,) = _corr_matches(make_engine, temporal, rows)
    assert m.group == {"user": "a"} and m.event_indexes == (0, 1, 2, 4)


def test_correlation_aliases(make_engine: Any) -> None:
    body = """
    type: temporal
    rules:
        - failed_login
        - success_login
    aliases:
        account:
            failed_login: user
            success_login: target
    group-by:
        - account
    timespan: 1m
"""
    rows = [(0, {"action": "failed", "user": "a"}), (5, {"action": "success", "target": "A"})]
    (m,) = _corr_matches(make_engine, body, rows)
    assert str(m.group["account"]).lower() == "a" and m.event_indexes == (0, 1)


def test_referenced_rules_do_not_alert_unless_generate(make_engine: Any) -> None:
    body = """
    type: event_count
    rules:
        - failed_login
    timespan: 1m
    condition:
        gte: 1
"""
    engine: SigmaEngine = make_engine(BASE_LOGIN, _corr(body))
    out = engine.match_all(_events([(0, {"action": "failed"})]))
    assert [m.correlation_type for m in out] == ["event_count"]
    engine = make_engine(BASE_LOGIN, _corr(body + "    generate: true\n"))
    out = engine.match_all(_events([(0, {"action": "failed"})]))
    assert sorted(str(m.correlation_type) for m in out) == ["None", "event_count"]


# --- filters ------------------------------------------------------------------------------------


def test_sigma_filter_excludes_matches(make_engine: Any) -> None:
    filt = """
title: Filter out the build server
id: 3e95725d-7320-415d-80f7-004da920fc14
status: test
logsource:
    product: test
filter:
    rules:
        - failed_login
    selection:
        host: build01
    condition: not selection
"""
    engine: SigmaEngine = make_engine(BASE_LOGIN, filt)
    assert not engine.problems, [str(p) for p in engine.problems]
    rows = [(0, {"action": "failed", "host": "build01"}), (1, {"action": "failed", "host": "web"})]
    out = engine.match_all(_events(rows))
    assert [m.index for m in out] == [1]


# --- logsource routing --------------------------------------------------------------------------


def test_logsource_routing(make_engine: Any) -> None:
    rule = """
title: route
id: 4e95725d-7320-415d-80f7-004da920fc15
status: test
logsource:
    product: linux
    category: process_creation
detection:
    selection:
        Image|endswith: '/nmap'
    condition: selection
level: low
"""
    engine: SigmaEngine = make_engine(rule)
    ev = {"Image": "/usr/bin/nmap"}
    recs = [
        {"logsource": {"product": "linux", "category": "process_creation"}, "event": ev},
        {"logsource": {"product": "windows", "category": "process_creation"}, "event": ev},
        {"logsource": {"product": "linux", "category": "network_connection"}, "event": ev},
        {"logsource": {"product": "Linux", "category": "process_creation", "service": "sysmon"}, "event": ev},
    ]
    assert [m.index for m in engine.match(recs)] == [0, 3]
    assert engine.stats.pairs == 4 and engine.stats.events == 4


@pytest.mark.parametrize(
    ("ctype", "condition", "fires"),
    [
        ("value_sum", "gte: 1000", True),  # 400 + 700 = 1100 in the group
        ("value_sum", "gte: 2000", False),
        ("value_avg", "gt: 500", True),  # 550
        ("value_avg", "gt: 600", False),
        ("value_median", "gte: 550", True),  # median of (400, 700); user b's 100 stays below
        ("value_percentile", "gte: 700", True),  # percentile 90 of (400, 700) is 700
    ],
)
def test_value_aggregate_correlations(make_engine: Any, ctype: str, condition: str, fires: bool) -> None:
    extra = "        percentile: 90\n" if ctype == "value_percentile" else ""
    body = f"""
    type: {ctype}
    rules:
        - failed_login
    group-by:
        - user
    timespan: 1m
    condition:
        {condition}
        field: bytes
{extra}"""
    rows: list[tuple[int, dict[str, Any]]] = [
        (0, {"action": "failed", "user": "a", "bytes": 400}),
        (5, {"action": "failed", "user": "a", "bytes": "700"}),
        (6, {"action": "failed", "user": "b", "bytes": 100}),
    ]
    got = [(m.group["user"], m.event_indexes) for m in _corr_matches(make_engine, body, rows)]
    assert got == ([("a", (0, 1))] if fires else [])


def test_temporal_extended_condition(make_engine: Any) -> None:
    body = """
    type: temporal
    rules:
        - failed_login
        - success_login
    group-by:
        - user
    timespan: 1m
    condition: failed_login and not success_login
"""
    engine: SigmaEngine = make_engine(BASE_LOGIN, BASE_SUCCESS, _corr(body))
    if engine.problems:  # pySigma 2.0.1 may not accept this form; then it must say why
        assert all(p.reason for p in engine.problems)
        pytest.skip(f"extended condition rejected by pySigma: {engine.problems[0].reason}")
    out = [m for m in engine.match(_events([(0, {"action": "failed", "user": "a"})])) if m.correlation_type]
    assert [m.event_indexes for m in out] == [(0,)]


@pytest.mark.parametrize(("mod", "expected"), [("startswith", [0]), ("endswith", [1])])
def test_fieldref_startswith_endswith(match_detection: Match, mod: str, expected: list[int]) -> None:
    det = f"""
    selection:
        CommandLine|fieldref|{mod}: Image
    condition: selection
    """
    events = [{"Image": "/usr/bin/curl", "CommandLine": "/usr/bin/curl -s x"},
              {"Image": "evil.sh", "CommandLine": "bash ./EVIL.SH"}]
    assert match_detection(det, events) == expected

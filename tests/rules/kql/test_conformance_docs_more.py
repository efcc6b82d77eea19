"""Conformance with the Kusto documentation for constructs the public hunting corpus needs.

As in test_conformance_docs.py, each case cites the page of MicrosoftDocs/dataexplorer-docs
(learn.microsoft.com/kusto/query/<page>) and its section; the data are a reduced form of the
page's example where the page runs on the StormEvents sample table, which is not vendored here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from harness.errors import RuleError, UnsupportedError
from harness.rules.kql import KqlEngine

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def rows(query: str) -> list[dict[str, Any]]:
    return list(KqlEngine().run(query, "<doc>", NOW).records())


STORMS = '''datatable(State:string, EventType:string)
["ALABAMA", "Thunderstorm Wind", "ALABAMA", "Thunderstorm Wind", "ALASKA", "Thunderstorm Wind",
 "ALASKA", "High Wind", "ALASKA", "High Wind", "ALABAMA", "Strong Wind"]'''


def test_pivot_counts_each_value_into_its_own_column_with_zero_for_none() -> None:
    # pivot-plugin, "Pivot by a column": default aggregation count(), one column per distinct State
    # in ascending order (ALABAMA, ALASKA), the other columns group, 0 where a group has none
    out = rows(f"{STORMS} | evaluate pivot(State) | sort by EventType asc")
    assert out == [{"EventType": "High Wind", "ALABAMA": 0, "ALASKA": 2},
                   {"EventType": "Strong Wind", "ALABAMA": 1, "ALASKA": 0},
                   {"EventType": "Thunderstorm Wind", "ALABAMA": 2, "ALASKA": 1}]


def test_pivot_with_explicit_count_and_group_columns() -> None:
    # pivot-plugin, "Parameters": aggregationFunction defaults to count(); column1.. are the groups
    out = rows(f"{STORMS} | extend n = 1 | evaluate pivot(State, count(), EventType) | sort by EventType asc")
    assert [r["ALASKA"] for r in out] == [2, 0, 1]
    assert list(out[0]) == ["EventType", "ALABAMA", "ALASKA"]


def test_pivot_output_schema_names_the_columns_and_rejects_other_values() -> None:
    # pivot-plugin, "Parameters": OutputSchema; "if the runtime schema doesn't match ... an error"
    out = rows(f"{STORMS} | evaluate pivot(State): (EventType:string, ALASKA:long, ALABAMA:long, TEXAS:long)"
               " | sort by EventType asc")
    assert out[0] == {"EventType": "High Wind", "ALASKA": 2, "ALABAMA": 0, "TEXAS": 0}
    with pytest.raises(RuleError, match="not in the output schema"):
        rows(f"{STORMS} | evaluate pivot(State): (EventType:string, ALASKA:long)")


def test_pivot_on_empty_input_has_only_the_group_columns() -> None:
    # the output schema follows the data (pivot-plugin, note): no rows, no value columns
    out = KqlEngine().run("DeviceEvents | project DeviceName, ActionType | evaluate pivot(ActionType)",
                          "<doc>", NOW)
    assert out.columns == (("DeviceName", "string"),) and out.rows == ()


def test_pivot_with_another_aggregation_is_unsupported() -> None:
    with pytest.raises(UnsupportedError):
        rows(f"{STORMS} | extend n = 1 | evaluate pivot(State, sum(n))")


def test_identifier_may_start_with_digits_when_it_is_not_a_literal() -> None:
    # schema-entities/entity-names, "Identifier naming rules": identifiers may contain letters,
    # digits and underscores; only names that read as literals (1day) need ['...'] quoting
    assert rows("let 2022List = dynamic(['a']); print x = 'a' in (2022List), d = 1day") == [
        {"x": True, "d": "1.00:00:00"}]


def test_a_literal_function_argument_stays_a_constant_in_the_body() -> None:
    # column_ifexists-function: the column name must be a constant; a function called with a
    # literal passes that constant on (functions/user-defined-functions, "Invoking a function")
    q = ('let f = (c:string) { datatable(A:long)[1] | project v = column_ifexists(c, 0) };\n'
         'union (f("A") | extend k = "A"), (f("B") | extend k = "B") | sort by k asc')
    assert rows(q) == [{"v": 1, "k": "A"}, {"v": 0, "k": "B"}]


def test_render_ends_at_the_closing_brace_of_a_function_body() -> None:
    q = "let f = () { print x = 1 | render piechart };\nf()"
    assert rows(q) == [{"x": 1}]


@pytest.mark.parametrize(("xml", "expected"), [
    # parse-xmlfunction, "Returns": the conversion table, row by row
    ("<e/>", {"e": None}),
    ("<e>text</e>", {"e": "text"}),
    ('<e name="value" />', {"e": {"@name": "value"}}),
    ('<e name="value">text</e>', {"e": {"@name": "value", "#text": "text"}}),
    ("<e> <a>text</a> <b>text</b> </e>", {"e": {"a": "text", "b": "text"}}),
    ("<e> <a>text</a> <a>text</a> </e>", {"e": {"a": ["text", "text"]}}),
    ("<e> text <a>text</a> </e>", {"e": {"#text": "text", "a": "text"}}),
    # "or null, if the XML format is invalid"
    ("<e>", None),
])
def test_parse_xml_conversion_table(xml: str, expected: Any) -> None:
    escaped = xml.replace("'", "\\'")
    assert rows(f"print x = parse_xml('{escaped}')") == [{"x": expected}]


def test_parse_xml_page_example() -> None:
    # parse-xmlfunction, "Example": the duration metrics document, read through the result
    doc = ('<?xml version="1.0" encoding="UTF-8"?><duration><value>118.0</value><count>5.0</count>'
           '<min>100.0</min><max>150.0</max><stdDev>0.0</stdDev><sampledValue>118.0</sampledValue>'
           '<sum>118.0</sum></duration>')
    q = (f"print m = '{doc}' | extend d = parse_xml(m) | project value = d.duration.value, n = d.duration.count,"
         " v = todouble(d.duration.value) * 2")
    assert rows(q) == [{"value": "118.0", "n": "5.0", "v": 236.0}]


@pytest.mark.parametrize(("call", "expected"), [
    # has-ipv4-function, "Examples"
    ("has_ipv4('05:04:54 127.0.0.1 GET /favicon.ico 404', '127.0.0.1')", True),
    ("has_ipv4('05:04:54 127.0.0.256 GET /favicon.ico 404', '127.0.0.256')", False),
    ("has_ipv4('05:04:54127.0.0.1 GET /favicon.ico 404', '127.0.0.1')", False),
    # the page's delimited-list example text
    ("has_ipv4('These requests came from: 192.168.1.1, 10.1.1.115 and 10.1.1.201', '10.1.1.115')", True),
    # has-ipv4-prefix-function, "Examples"
    ("has_ipv4_prefix('05:04:54 127.0.0.1 GET /favicon.ico 404', '127.0.')", True),
    ("has_ipv4_prefix('05:04:54 127.0.0.1 GET /favicon.ico 404', '127.0')", False),
    ("has_ipv4_prefix('05:04:54 127.0.0.256 GET /favicon.ico 404', '127.0.')", False),
    ("has_ipv4_prefix('05:04:54127.0.0.1 GET /favicon.ico 404', '127.0.')", False),
    # "A valid IP address prefix is either a complete IPv4 address ... or its prefix ending with a dot"
    ("has_ipv4_prefix('from 192.168.1.11 ok', '192.168.1.11')", True),
    ("has_ipv4_prefix('from 192.168.1.11 ok', '192.168.1.1')", False),
])
def test_has_ipv4_and_prefix_page_examples(call: str, expected: bool) -> None:
    assert rows(f"print r = {call}") == [{"r": expected}]


@pytest.mark.parametrize(("call", "expected"), [
    # array-sort-desc-function, "Example 1": the first array of the example, alone
    ("array_sort_desc(dynamic([1,3,4,5,2]))", [5, 4, 3, 2, 1]),
    ("array_sort_asc(dynamic([1,3,4,5,2]))", [1, 2, 3, 4, 5]),
    # "If nulls_last isn't provided, a default value of true is used"
    ("array_sort_asc(dynamic([2, null, 1]))", [1, 2, None]),
    ("array_sort_asc(dynamic([2, null, 1]), false)", [None, 1, 2]),
    # "Numeric ... elements - String elements - ... All other elements"
    ("array_sort_asc(dynamic(['b', 2, 'a', 1]))", [1, 2, "a", "b"]),
    ("array_sort_asc(dynamic({'a': 1}))", None),
])
def test_array_sort_page_rules(call: str, expected: Any) -> None:
    assert rows(f"print r = {call}") == [{"r": expected}]


def test_array_sort_over_several_arrays_is_unsupported() -> None:
    with pytest.raises(UnsupportedError):
        rows("print array_sort_desc(dynamic([1,3]), dynamic(['a','b']))")


@pytest.mark.parametrize(("query", "expected"), [
    # make-string-function, "Examples" (all four)
    ("print str = make_string(75, 117, 115, 116, 111)", "Kusto"),
    ("print str = make_string(dynamic([75, 117, 115, 116, 111]))", "Kusto"),
    ("print str = make_string(dynamic([75, 117, 115]), 116, 111)", "Kusto"),
    ("print str = make_string(75, 10, 117, 10, 115, 10, 116, 10, 111)", "K\nu\ns\nt\no"),
])
def test_make_string_page_examples(query: str, expected: str) -> None:
    assert rows(query) == [{"str": expected}]


def test_extract_json_page_example_and_its_type_argument() -> None:
    # extract-json-function, "Example"; "extract_json() and extractjson() are equivalent"
    doc = "let json = '{\"name\": \"John\", \"age\": 30, \"city\": \"New York\"}';\n"
    assert rows(doc + 'print extract_json("$.name", json, typeof(string))') == [{"print_0": "John"}]
    # "Parameters": type: "typeof(long) will convert the extracted value to a long"
    assert rows(doc + 'print a = extractjson("$.age", json, typeof(long))') == [{"a": 30}]

"""Conformance with Microsoft's Kusto documentation: one or more documented examples per operator.

Expected values are those the Kusto documentation gives (or follow from the semantics it states,
noted where so), never captured from this engine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from harness.errors import RuleError, UnsupportedError
from harness.rules.kql import KqlEngine

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def rows(engine: KqlEngine, query: str) -> list[dict[str, Any]]:
    return list(engine.run(query, "<test>", NOW).records())


def value(engine: KqlEngine, expr: str) -> Any:
    return rows(engine, f"print v = {expr}")[0]["v"]


# String operators: the table of learn.microsoft.com/kusto/query/datatypes-string-operators
STRING_OPERATOR_EXAMPLES = [
    ('"North America" has "america"', True),
    ('"North America" !has "amer"', True),
    ('"North America" has_all("south", "america")', False),
    ('"North America" has_any("south", "north")', True),
    ('"North America" has_cs "America"', True),
    ('"North America" !has_cs "amer"', True),
    ('"North America" hasprefix "ame"', True),
    ('"North America" !hasprefix "mer"', True),
    ('"North America" hassuffix "ica"', True),
    ('"North America" !hassuffix "americ"', True),
    ('"FabriKam" contains "BRik"', True),
    ('"Fabrikam" !contains "xyz"', True),
    ('"FabriKam" contains_cs "Kam"', True),
    ('"Fabrikam" !contains_cs "Kam"', True),
    ('"Fabrikam" startswith "fab"', True),
    ('"Fabrikam" !startswith "kam"', True),
    ('"Fabrikam" startswith_cs "Fab"', True),
    ('"Fabrikam" endswith "Kam"', True),
    ('"Fabrikam" !endswith "brik"', True),
    ('"Fabrikam" endswith_cs "kam"', True),
    ('"aBc" == "abc"', False),
    ('"abc" != "ABC"', True),
    ('"abc" =~ "ABC"', True),
    ('"aBc" !~ "xyz"', True),
    ('"abc" in ("123", "345", "abc")', True),
    ('"bca" !in ("123", "345", "abc")', True),
    ('"Abc" in~ ("123", "345", "abc")', True),
    ('"bCa" !in~ ("123", "345", "ABC")', True),
    ('"Fabrikam" matches regex "b.*k"', True),
    # has is whole-term: the docs' KustoExplorerQueryRun example
    ('"KustoExplorerQueryRun" has "Explorer"', False),
    ('"KustoExplorerQueryRun" contains "Explorer"', True),
    # term boundaries only at needle edges that are term characters (../shared/reference)
    ('"api.shodan.io" has "shodan.io"', True),
    ('"notshodan.io" has "shodan.io"', False),
    ('"nmap -sn 10.0.0.0/24" has "nmap -sn"', True),
    ('"xnmap -sn" has "nmap -sn"', False),
    ('"a--b" has "--"', True),
    ('"North_America" has "America"', True),
    ('"api.shodan.io" has_any (dynamic(["censys.io", "shodan.io"]))', True),
    ('"nmap -sn 10.0.0.0/24" has_any ("masscan --rate", "nmap -sn")', True),
    ('"FOO bar" has_cs "foo"', False),
]


@pytest.mark.parametrize(("expr", "expected"), STRING_OPERATOR_EXAMPLES)
def test_string_operators(engine: KqlEngine, expr: str, expected: bool) -> None:
    assert value(engine, expr) is expected


def test_has_on_null_dynamic_is_false(engine: KqlEngine) -> None:
    q = 'datatable(d:dynamic)[dynamic(null), dynamic("x y")] | where d has "x" | count'
    assert rows(engine, q) == [{"Count": 1}]
    q = 'datatable(d:dynamic)[dynamic(null)] | where d !has "x" | count'
    assert rows(engine, q) == [{"Count": 1}]


def test_logical_precedence_and_not(engine: KqlEngine) -> None:
    # and binds tighter than or
    assert value(engine, "true or false and false") is True
    assert value(engine, "not(true) or true") is True
    assert value(engine, "not(1 > 2)") is True


# Scalar functions: examples from each function's documentation page
SCALAR_EXAMPLES: list[tuple[str, Any]] = [
    ('strcat("hello", " ", "world")', "hello world"),
    ('strlen("hello")', 5),
    ('substring("123456", 1, 3)', "234"),
    ('substring("123456", 2)', "3456"),
    ('split("aa_bb", "_")', ["aa", "bb"]),
    ('split("aaa_bbb_ccc", "_", 1)', ["bbb"]),
    ('split("aabbcc", "bb")', ["aa", "cc"]),
    ('extract("x=([0-9.]+)", 1, "hello x=45.6|wo")', "45.6"),
    ('extract("x=([0-9.]+)", 1, "hello x=45.6|wo", typeof(real))', 45.6),
    ('replace_string("A magic trick can turn a cat into a dog", "cat", "hamster")',
     "A magic trick can turn a hamster into a dog"),
    ('iff(1 > 2, "a", "b")', "b"),
    ('iif(2 > 1, "a", "b")', "a"),
    ('case(5 > 10, "big", 5 > 3, "medium", "small")', "medium"),
    ("isempty('')", True),
    ("isnotempty('a')", True),
    ("isnull(long(null))", True),
    ("isnotnull(5)", True),
    ("coalesce(long(null), 5, 6)", 5),
    ('coalesce("", "x")', "x"),
    ("tostring(long(null))", ""),
    ("tostring(123)", "123"),
    ('toint("123")', 123),
    ('tolong("x")', None),
    ('todouble("1.5")', 1.5),
    ('tolower("ABC")', "abc"),
    ('toupper("abc")', "ABC"),
    ("array_length(dynamic([1, 2, 3]))", 3),
    ('array_length(dynamic({"a": 1}))', None),
    ('array_index_of(dynamic(["a", "b", "c"]), "b")', 1),
    ('array_index_of(dynamic(["a", "b"]), "z")', -1),
    ("parse_json('{\"a\": {\"b\": [1, 2]}}').a.b[1]", 2),
    ("parse_json('{\"a\": {\"b\": [1, 2]}}')['a']['b'][0]", 1),
    ("dynamic([1, 2, 3])[-1]", 3),
    ('parse_version("1.2.3.4") > parse_version("1.2.3.10")', False),
    ('parse_version("0.0.0.1") < parse_version("1.0")', True),
    ('hash("World")', 1846988464401551951),  # the hash() page's example
    ('hash("World", 100)', 51),  # 1846988464401551951 % 100, per the page's definition
    ('ipv4_is_private("192.168.1.1")', True),
    ('ipv4_is_private("8.8.8.8")', False),
    ('ipv4_is_in_range("10.1.2.3", "10.1.0.0/16")', True),
    ('pack_dictionary("a", 1, "b", "x")', {"a": 1, "b": "x"}),
    # the gettype() page's examples
    ('gettype("a")', "string"),
    ("gettype(111)", "long"),
    ("gettype(1==1)", "bool"),
    ("gettype(now())", "datetime"),
    ("gettype(1s)", "timespan"),
    ("gettype(parse_json('1'))", "int"),
    ("gettype(parse_json(' \"abc\" '))", "string"),
    ("gettype(parse_json(' {\"abc\":1} '))", "dictionary"),
    ("gettype(parse_json(' [1, 2, 3] '))", "array"),
    ("gettype(123.45)", "real"),
    ("gettype(parse_json(''))", "null"),
    ('countof("aaa", "a")', 3),
    ('indexof("abcdefg", "cde")', 2),
    ('indexof("abcdefg", "z")', -1),
    ('trim("--", "--ab--")', "ab"),
    ('url_decode("https%3a%2f%2fwww.bing.com%2f")', "https://www.bing.com/"),
    ('base64_decode_tostring("S3VzdG8=")', "Kusto"),
    ("bin(4.5, 1)", 4.0),
    ("bin(7, 5)", 5),
    ("bin(datetime(1970-05-11 13:45:07), 1d)", "1970-05-11T00:00:00.0000000Z"),
    ("bin(datetime(2020-01-01 10:34:00), 1h)", "2020-01-01T10:00:00.0000000Z"),
    ("datetime(2020-01-01) + 1d", "2020-01-02T00:00:00.0000000Z"),
    ("datetime(2020-01-02) - datetime(2020-01-01)", "1.00:00:00"),
    ("1h / 1m", 60.0),
    ("2d + 3h", "2.03:00:00"),
    ("datetime_add('hour', 2, datetime(2020-01-01))", "2020-01-01T02:00:00.0000000Z"),
    ("datetime_diff('day', datetime(2020-01-05), datetime(2020-01-01))", 4),
    ("startofday(datetime(2020-03-04 05:06:07))", "2020-03-04T00:00:00.0000000Z"),
    ("ago(1h)", "2026-11-28T05:00:00.0000000Z"),
    ("now()", "2026-11-28T06:00:00.0000000Z"),
    ("now(-1d)", "2026-11-27T06:00:00.0000000Z"),
    ("datetime(2015-12-31 23:59:59.9)", "2015-12-31T23:59:59.9000000Z"),
    ("int(0)", 0),
    ("toscalar(range x from 1 to 5 step 1 | summarize sum(x))", 15),
]


@pytest.mark.parametrize(("expr", "expected"), SCALAR_EXAMPLES)
def test_scalar_functions(engine: KqlEngine, expr: str, expected: Any) -> None:
    assert value(engine, expr) == expected


# Tabular operators
def test_print_and_column_order(engine: KqlEngine) -> None:
    assert rows(engine, "print b = 2, a = 1") == [{"b": 2, "a": 1}]
    assert rows(engine, "print 1, x = 2") == [{"print_0": 1, "x": 2}]


def test_range(engine: KqlEngine) -> None:
    assert [r["x"] for r in rows(engine, "range x from 1 to 10 step 3")] == [1, 4, 7, 10]
    assert [r["t"] for r in rows(engine, "range t from datetime(2020-01-01) to datetime(2020-01-03) step 1d")] == [
        "2020-01-01T00:00:00.0000000Z", "2020-01-02T00:00:00.0000000Z", "2020-01-03T00:00:00.0000000Z"]


def test_datatable_keeps_order(engine: KqlEngine) -> None:
    q = 'datatable(Date:datetime, Event:string)[datetime(1910-06-11), "Born", datetime(1930-01-01), "Enters"]'
    assert [r["Event"] for r in rows(engine, q)] == ["Born", "Enters"]


T = 'datatable(k:string, x:long, s:string)["a", 1, "p", "b", 5, "q", "a", 3, "r", "c", long(null), "s"]'


def test_where_extend_project(engine: KqlEngine) -> None:
    assert rows(engine, f"{T} | where x > 2 | project k") == [{"k": "b"}, {"k": "a"}]
    # extend replaces a column of the same name and may use columns it defined before
    assert rows(engine, f"{T} | where k == 'b' | extend x = x * 2, y = x + 1 | project x, y") == [{"x": 10, "y": 11}]
    # project evaluates every clause against its input
    assert rows(engine, f"{T} | where k == 'b' | project x = x + 1, y = x") == [{"x": 6, "y": 5}]


def test_project_away_rename_reorder(engine: KqlEngine) -> None:
    assert list(rows(engine, f"{T} | project-away s | take 1")[0]) == ["k", "x"]
    assert list(rows(engine, f"{T} | project-rename key = k | take 1")[0]) == ["key", "x", "s"]
    assert list(rows(engine, f"{T} | project-reorder s, x | take 1")[0]) == ["s", "x", "k"]
    assert list(rows(engine, f"{T} | project-away x* | take 1")[0]) == ["k", "s"]


def test_sort_defaults_and_nulls(engine: KqlEngine) -> None:
    # sort defaults to descending; nulls last when descending, first when ascending
    assert [r["x"] for r in rows(engine, f"{T} | sort by x")] == [5, 3, 1, None]
    assert [r["x"] for r in rows(engine, f"{T} | order by x asc")] == [None, 1, 3, 5]
    assert [r["x"] for r in rows(engine, f"{T} | sort by x asc nulls last")] == [1, 3, 5, None]
    assert [r["x"] for r in rows(engine, f"{T} | sort by k asc, x desc")] == [3, 1, 5, None]


def test_top_take_count_distinct(engine: KqlEngine) -> None:
    assert [r["x"] for r in rows(engine, f"{T} | top 2 by x")] == [5, 3]
    assert len(rows(engine, f"{T} | take 2")) == 2
    assert rows(engine, f"{T} | limit 100 | count") == [{"Count": 4}]
    assert sorted(r["k"] for r in rows(engine, f"{T} | distinct k")) == ["a", "b", "c"]
    assert len(rows(engine, f"{T} | project k | distinct *")) == 3


def test_summarize_aggregates(engine: KqlEngine) -> None:
    out = rows(engine, f"{T} | summarize count(), countif(x > 1), dcount(k), min(x), max(x), sum(x), avg(x)")
    assert out == [{"count_": 4, "countif_": 2, "dcount_k": 3, "min_x": 1, "max_x": 5, "sum_x": 9, "avg_x": 3.0}]
    out = rows(engine, f"{T} | summarize n = count(), xs = make_list(x), ks = make_set(k) by k | sort by k asc")
    assert [(r["k"], r["n"], sorted(r["xs"])) for r in out] == [("a", 2, [1, 3]), ("b", 1, [5]), ("c", 1, [])]
    out = rows(engine, f"{T} | summarize arg_max(x, s), arg_min(x, s)")
    assert out == [{"x": 5, "s": "q", "x1": 1, "s1": "p"}]
    out = rows(engine, f"{T} | summarize arg_max(x, *) by k | sort by k asc")
    # a group whose keys are all null still gives a row of its own (arg_max page, null handling: Banana)
    assert out == [{"k": "a", "x": 3, "s": "r"}, {"k": "b", "x": 5, "s": "q"}, {"k": "c", "x": None, "s": "s"}]


def test_summarize_by_bin_and_empty_input(engine: KqlEngine) -> None:
    out = rows(engine, "range x from 1 to 10 step 1 | summarize count() by bin(x, 5) | sort by x asc")
    assert out == [{"x": 0, "count_": 4}, {"x": 5, "count_": 5}, {"x": 10, "count_": 1}]
    assert rows(engine, "range x from 1 to 0 step 1 | summarize count()") == [{"count_": 0}]
    q = "range x from 1 to 0 step 1 | extend s = tostring(x) | summarize m = max(s) | where m == ''"
    assert rows(engine, q) == [{"m": ""}]


X = "datatable(Key:string, Value1:long)['a', 1, 'b', 2, 'b', 3, 'c', 4]"
Y = "datatable(Key:string, Value2:long)['b', 10, 'c', 20, 'c', 30, 'd', 40]"


def _pairs(out: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((tuple(r.values()) for r in out), key=repr)


def test_join_kinds_from_the_join_docs(engine: KqlEngine) -> None:
    lets = f"let X = {X}; let Y = {Y}; "
    # default innerunique: the left side is deduplicated on the key (one row per key, either b)
    out = rows(engine, lets + "X | join Y on Key")
    assert list(out[0]) == ["Key", "Value1", "Key1", "Value2"]
    assert sorted((r["Key"], r["Value2"]) for r in out) == [("b", 10), ("c", 20), ("c", 30)]
    assert _pairs(rows(engine, lets + "X | join kind=inner Y on Key")) == _pairs([
        {"a": "b", "b": 2, "c": "b", "d": 10}, {"a": "b", "b": 3, "c": "b", "d": 10},
        {"a": "c", "b": 4, "c": "c", "d": 20}, {"a": "c", "b": 4, "c": "c", "d": 30}])
    out = rows(engine, lets + "X | join kind=leftouter Y on Key")
    assert len(out) == 5 and {"Key": "a", "Value1": 1, "Key1": "", "Value2": None} in out
    # strings are never null: the unmatched side of an outer join reads as "", so it can be tested
    assert rows(engine, lets + "X | join kind=leftouter Y on Key | where Key1 == '' | project Key") == [{"Key": "a"}]
    assert rows(engine, lets + "X | join kind=leftouter Y on Key | where isempty(Key1) | count") == [{"Count": 1}]
    assert rows(engine, lets + "X | join kind=leftanti Y on Key") == [{"Key": "a", "Value1": 1}]
    assert rows(engine, lets + "X | join kind=rightanti Y on Key") == [{"Key": "d", "Value2": 40}]
    assert len(rows(engine, lets + "X | join kind=fullouter Y on Key")) == 6
    out = rows(engine, lets + "X | join kind=inner (Y) on $left.Key == $right.Key | count")
    assert out == [{"Count": 4}]


def test_lookup(engine: KqlEngine) -> None:
    facts = "datatable(Row:string, Personal:string, Family:string)['1', 'Bill', 'Gates', '2', 'Bill', 'Clinton']"
    dim = "datatable(Personal:string, Family:string, Alias:string)['Bill', 'Gates', 'billg']"
    q = f"let F = {facts}; let D = {dim}; F | lookup kind=leftouter D on Personal, Family | sort by Row asc"
    out = rows(engine, q)
    assert out == [{"Row": "1", "Personal": "Bill", "Family": "Gates", "Alias": "billg"},
                   {"Row": "2", "Personal": "Bill", "Family": "Clinton", "Alias": ""}]


def test_union_outer_withsource_and_type_split(engine: KqlEngine) -> None:
    q = ("let T1 = datatable(a:long, b:string)[1, 'x']; let T2 = datatable(a:long, c:string)[2, 'y']; "
         "union withsource=Src T1, T2 | sort by a asc")
    assert rows(engine, q) == [{"Src": "T1", "a": 1, "b": "x", "c": ""}, {"Src": "T2", "a": 2, "b": "", "c": "y"}]
    q = ("let T1 = datatable(a:long)[1]; let T2 = datatable(a:string)['z']; "
         "union T1, T2 | project-reorder a_long, a_string")
    assert sorted(rows(engine, q), key=repr) == sorted(
        [{"a_long": 1, "a_string": ""}, {"a_long": None, "a_string": "z"}], key=repr)
    assert rows(engine, "union (print a = 1), (print a = 2) | summarize sum(a)") == [{"sum_a": 3}]


def test_mv_expand(engine: KqlEngine) -> None:
    q = "datatable(a:int, b:dynamic)[1, dynamic([10, 20]), 2, dynamic(['a', 'b'])] | mv-expand b"
    assert rows(engine, q) == [{"a": 1, "b": 10}, {"a": 1, "b": 20}, {"a": 2, "b": "a"}, {"a": 2, "b": "b"}]
    # the docs: a null value gives one record (null), an empty array or bag gives none
    q = "datatable(a:int, b:dynamic)[1, dynamic(null), 2, dynamic([]), 3, dynamic({})] | mv-expand b"
    assert rows(engine, q) == [{"a": 1, "b": None}]
    q = "print b = dynamic({'k1': 1, 'k2': 'v'}) | mv-expand b"
    assert rows(engine, q) == [{"b": {"k1": 1}}, {"b": {"k2": "v"}}]
    q = "print d = dynamic([1, 2]) | mv-expand x = d to typeof(long) | project x"
    assert rows(engine, q) == [{"x": 1}, {"x": 2}]


def test_parse(engine: KqlEngine) -> None:
    q = 'print s = "The quick brown fox" | parse s with * "quick " color " fox" | project color'
    assert rows(engine, q) == [{"color": "brown"}]
    q = 'print s = "id=42 user=bob" | parse s with "id=" id:long " user=" user | project id, user'
    assert rows(engine, q) == [{"id": 42, "user": "bob"}]


def test_let_scalar_tabular_function_view(engine: KqlEngine) -> None:
    assert rows(engine, "let n = 2; let f = (a:long) { a * n }; print v = f(3)") == [{"v": 6}]
    assert rows(engine, "let T = view() { print a = 1 }; T | extend b = a + 1") == [{"a": 1, "b": 2}]
    q = "let g = (t:(x:long)) { t | where x > 1 }; range x from 1 to 3 step 1 | invoke g() | count"
    assert rows(engine, q) == [{"Count": 2}]
    q = "let L = dynamic(['a', 'b']); print v = 'b' in (L)"
    assert rows(engine, q) == [{"v": True}]


def test_between_and_datetime_window(engine: KqlEngine) -> None:
    assert [r["x"] for r in rows(engine, "range x from 1 to 10 step 1 | where x between (3 .. 5)")] == [3, 4, 5]
    q = "print t = datetime(2020-01-01 12:00) | where t between (datetime(2020-01-01) .. 1d) | count"
    assert rows(engine, q) == [{"Count": 1}]


def test_top_nested_single_level_and_partition_top(engine: KqlEngine) -> None:
    # top-nested: the N values of the column with the largest aggregate, as aggregated_<column>
    q = f"{T} | top-nested 2 of k by sum(x)"
    assert rows(engine, q) == [{"k": "b", "aggregated_k": 5}, {"k": "a", "aggregated_k": 4}]
    q = f"{T} | partition by k (top 1 by x) | sort by k asc | project k, x"
    assert rows(engine, q) == [{"k": "a", "x": 3}, {"k": "b", "x": 5}, {"k": "c", "x": None}]


def test_serialize_row_number(engine: KqlEngine) -> None:
    q = "range x from 5 to 7 step 1 | sort by x asc | extend rn = row_number()"
    assert [(r["x"], r["rn"]) for r in rows(engine, q)] == [(5, 1), (6, 2), (7, 3)]


def test_output_forms(engine: KqlEngine) -> None:
    out = rows(engine, "print t = datetime(2026-11-28 05:35:50.134), s = 1h + 1ms, d = dynamic({'a': [1]})")
    assert out == [{"t": "2026-11-28T05:35:50.1340000Z", "s": "01:00:00.0010000", "d": {"a": [1]}}]


# Errors: as Defender reports them, with line and column; unsupported constructs say so
def test_unknown_column_names_column_with_location(engine: KqlEngine) -> None:
    with pytest.raises(RuleError) as info:
        engine.run("DeviceNetworkEvents\n| project Timestamp, AccountName", "<q>", NOW)
    assert "AccountName" in info.value.message
    assert info.value.location is not None and (info.value.location.line, info.value.location.column) == (2, 22)


def test_unknown_table(engine: KqlEngine) -> None:
    with pytest.raises(RuleError, match="NoSuchTable"):
        engine.run("NoSuchTable | take 1", "<q>", NOW)


def test_syntax_error_has_location(engine: KqlEngine) -> None:
    with pytest.raises(RuleError) as info:
        engine.run("print x = (1 + ", "<q>", NOW)
    assert info.value.location is not None and info.value.location.line == 1


@pytest.mark.parametrize("query", [
    "print x = 1 | evaluate pivot(x, sum(x))",
    "print x = 1 | make-series count() on x step 1",
    "print v = series_fir(dynamic([1]), dynamic([1]))",
    "print x = 1 | top-nested 3 of x by count(), top-nested 1 of x by count()",
    "print x = 1 | partition by x (summarize count())",
])
def test_unsupported_constructs_raise_unsupported(engine: KqlEngine, query: str) -> None:
    with pytest.raises(UnsupportedError):
        engine.run(query, "<q>", NOW)


def test_type_mismatch_is_a_rule_error(engine: KqlEngine) -> None:
    with pytest.raises(RuleError, match="Cannot compare"):
        engine.run('print v = "1" == 1', "<q>", NOW)


def test_sentinel_flavour_has_timegenerated_and_dynamic_additional_fields() -> None:
    sent = KqlEngine("sentinel")
    row = {"Timestamp": "2026-11-28T05:00:00Z", "TimeGenerated": "2026-11-28T05:00:01Z", "AdditionalFields": {"a": 1}}
    sent.load_rows("DeviceProcessEvents", [row], "sentinel")
    out = list(sent.run("DeviceProcessEvents | project TimeGenerated, v = AdditionalFields.a, Type", "<q>", NOW)
               .records())
    assert out == [{"TimeGenerated": "2026-11-28T05:00:01.0000000Z", "v": 1, "Type": "DeviceProcessEvents"}]
    # rows of the Defender view (no TimeGenerated) read in Sentinel's schema carry their Timestamp
    sent.load_rows("DeviceNetworkEvents", [{"Timestamp": "2026-11-28T05:00:00Z"}], "sentinel")
    out = list(sent.run("DeviceNetworkEvents | where TimeGenerated > ago(1d) | project TimeGenerated", "<q>", NOW)
               .records())
    assert out == [{"TimeGenerated": "2026-11-28T05:00:00.0000000Z"}]
    with pytest.raises(RuleError, match="TimeGenerated"):
        KqlEngine("defender").run("DeviceProcessEvents | project TimeGenerated", "<q>", NOW)
    # the default: Sentinel's columns when the query uses TimeGenerated
    assert KqlEngine().run("DeviceProcessEvents | where TimeGenerated > ago(1d)", "<q>", NOW).rows == ()

"""Conformance with the Kusto documentation, one group per semantic the issue names.

Each case is a documented example and the output the page shows: the page is the file under
data-explorer/kusto/query/ of MicrosoftDocs/dataexplorer-docs (learn.microsoft.com/kusto/query/<page>)
and the section is named. Where a page shows no output for a case, the expected value follows from
the rule the page states, quoted beside it. Rows compare in order unless ``ordered`` is False.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from harness.errors import RuleError, UnsupportedError
from harness.rules.kql import KqlEngine

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def rows(engine: KqlEngine, query: str) -> list[dict[str, Any]]:
    return list(engine.run(query, "<doc>", NOW).records())


def key(r: dict[str, Any]) -> str:
    return repr(sorted(r.items()))


SHAPES = '''let shapes = datatable (name: string, sideCount: int)
["triangle", 3, "square", 4, "rectangle", 4, "pentagon", 5, "hexagon", 6, "heptagon", 7,
 "octagon", 8, "nonagon", 9, "decagon", 10];
'''
SPECIALS = "datatable(x:real)[5.0, real(null), real(nan), real(-inf), 0.0, real(+inf), -5.0]"
MV_APPLY_DATA = "let data = datatable (index: int, Arr: dynamic) [0, dynamic([5, 1, 3]), 1, dynamic([4, 10, 8, 7])];\n"
IP_DATA = '''let IP_Data = datatable(network:string, continent_code:string, continent_name:string,
 country_iso_code:string, country_name:string)
["111.68.128.0/17","AS","Asia","JP","Japan", "5.8.0.0/19","EU","Europe","RU","Russia",
 "223.255.254.0/24","AS","Asia","SG","Singapore", "46.36.200.51/32","OC","Oceania","CK","Cook Islands",
 "2.20.183.0/24","EU","Europe","GB","United Kingdom"];
let IPs = datatable(ip:string) ["2.20.183.12", "5.8.1.2", "192.165.12.17"];
'''

# (page, section, query, expected rows, ordered)
CASES: list[tuple[str, str, str, list[dict[str, Any]], bool]] = [
    # --- nulls in comparisons
    ("scalar-data-types/null-values.md", "Equality and inequality of null values",
     "datatable(val:int)[5, int(null)] | extend IsBiggerThan3 = val > 3 "
     "| extend IsBiggerThan3OrNull = val > 3 or isnull(val) | extend IsEqualToNull = val == int(null) "
     "| extend IsNotEqualToNull = val != int(null)",
     [{"val": 5, "IsBiggerThan3": True, "IsBiggerThan3OrNull": True, "IsEqualToNull": False,
       "IsNotEqualToNull": True},
      {"val": None, "IsBiggerThan3": None, "IsBiggerThan3OrNull": True, "IsEqualToNull": None,
       "IsNotEqualToNull": None}], True),
    ("scalar-data-types/null-values.md", "Null values and the where operator",
     'datatable(ival:int, sval:string)[5, "a", int(null), "b"] | where ival != 5',
     [{"ival": None, "sval": "b"}], True),
    ("scalar-data-types/null-values.md", "Exceptions to this rule (== and != with one null side)",
     "print a = 5 == int(null), b = 5 != int(null), c = int(null) == int(null)",
     [{"a": False, "b": True, "c": None}], True),
    ("scalar-data-types/null-values.md", "Null values and binary operators",
     "datatable(val:int)[5, int(null)] | extend Add = val + 10 | extend Multiply = val * 10",
     [{"val": 5, "Add": 15, "Multiply": 50}, {"val": None, "Add": None, "Multiply": None}], True),
    # --- aggregates on empty input: countif "Returns a count of rows in which predicate is true"
    ("countif-aggregation-function.md", "Returns",
     "datatable(x:long)[1, 2] | where x > 5 | summarize countif(x > 1), count(), dcount(x)",
     [{"countif_": 0, "count_": 0, "dcount_x": 0}], True),
    # --- make_list / make_set
    ("make-list-aggregation-function.md", "One column",
     SHAPES + "shapes | summarize mylist = make_list(name)",
     [{"mylist": ["triangle", "square", "rectangle", "pentagon", "hexagon", "heptagon", "octagon",
                  "nonagon", "decagon"]}], True),
    ("make-list-aggregation-function.md", "Using the 'by' clause",
     SHAPES + "shapes | summarize mylist = make_list(name) by isEvenSideCount = sideCount % 2 == 0",
     [{"isEvenSideCount": False, "mylist": ["triangle", "pentagon", "heptagon", "nonagon"]},
      {"isEvenSideCount": True, "mylist": ["square", "rectangle", "hexagon", "octagon", "decagon"]}], False),
    ("make-list-aggregation-function.md", "Packing a dynamic object",
     SHAPES + 'shapes | extend d = bag_pack("name", name, "sideCount", sideCount) '
     "| summarize mylist = make_list(d) by isEvenSideCount = sideCount % 2 == 0",
     [{"isEvenSideCount": False, "mylist": [{"name": "triangle", "sideCount": 3}, {"name": "pentagon", "sideCount": 5},
                                            {"name": "heptagon", "sideCount": 7}, {"name": "nonagon", "sideCount": 9}]},
      {"isEvenSideCount": True, "mylist": [{"name": "square", "sideCount": 4}, {"name": "rectangle", "sideCount": 4},
                                           {"name": "hexagon", "sideCount": 6}, {"name": "octagon", "sideCount": 8},
                                           {"name": "decagon", "sideCount": 10}]}], False),
    # "If the input to the summarize operator is sorted, the order of elements ... tracks that of the input"
    ("make-list-aggregation-function.md", "Returns (sorted input)",
     SHAPES + "shapes | sort by sideCount desc, name asc | summarize mylist = make_list(sideCount)",
     [{"mylist": [10, 9, 8, 7, 6, 5, 4, 4, 3]}], True),
    # --- arg_max with null keys
    ("arg-max-aggregation-function.md", "Examples (null handling)",
     'datatable(Fruit: string, Color: string, Version: int) ["Apple", "Red", 1, "Apple", "Green", int(null), '
     '"Banana", "Yellow", int(null), "Banana", "Green", int(null), "Pear", "Brown", 1, "Pear", "Green", 2,] '
     "| summarize arg_max(Version, *) by Fruit",
     [{"Fruit": "Apple", "Version": 1, "Color": "Red"}, {"Fruit": "Banana", "Version": None, "Color": "Yellow"},
      {"Fruit": "Pear", "Version": 2, "Color": "Green"}], False),
    # --- union withsource and type unification
    ("union-operator.md", "Source columns types mismatch",
     "let View_1 = view () { print x=1 }; let View_2 = view () { print x=toint(2) }; "
     "union withsource=TableName View_1, View_2",
     [{"TableName": "View_1", "x_long": 1, "x_int": None}, {"TableName": "View_2", "x_long": None, "x_int": 2}], False),
    ("union-operator.md", "Source columns types mismatch (x_long1)",
     "let View_1 = view () { print x=1 }; let View_2 = view () { print x=toint(2) }; "
     "let View_3 = view () { print x_long=3 }; union withsource=TableName View_1, View_2, View_3",
     [{"TableName": "View_1", "x_long1": 1, "x_int": None, "x_long": None},
      {"TableName": "View_2", "x_long1": None, "x_int": 2, "x_long": None},
      {"TableName": "View_3", "x_long1": None, "x_int": None, "x_long": 3}], False),
    ("union-operator.md", "Using isfuzzy=true",
     "let View_1 = view () { print x=1 }; let View_2 = view () { print x=1 }; "
     "let OtherView_1 = view () { print x=1 }; union isfuzzy=true (View_1 | where x > 0), "
     "(View_2 | where x > 0), (View_3 | where x > 0) | count",
     [{"Count": 2}], True),
    # --- substring
    ("substring-function.md", "Examples",
     'print a = substring("123456", 1), b = substring("123456", 2, 2), c = substring("ABCD", 0, 2), '
     'd = substring("123456", -2, 2)',
     [{"a": "23456", "b": "34", "c": "AB", "d": "56"}], True),
    # --- parse_json numbers
    ("parse-json-function.md", "Duration metrics parsing",
     "datatable(context_custom_metrics:string) ['{\"duration\":{\"value\":118.0,\"count\":5.0,\"min\":100.0,"
     "\"max\":150.0,\"stdDev\":0.0,\"sampledValue\":118.0,\"sum\":118.0}}'] "
     "| extend d = parse_json(context_custom_metrics) "
     "| extend duration_value = d.duration.value, duration_min = d.duration.min "
     "| project d = tostring(d), duration_value = tostring(duration_value), duration_min",
     [{"d": '{"duration":{"value":118,"count":5,"min":100,"max":150,"stdDev":0,"sampledValue":118,"sum":118}}',
       "duration_value": "118", "duration_min": 100}], True),
    ("parse-json-function.md", "Nested JSON parsing",
     "let d='{\"a\":123, \"b\":\"{\\\\\"c\\\\\":456}\"}'; print d_b_c=parse_json(tostring(parse_json(d).b)).c",
     [{"d_b_c": 456}], True),
    # --- tabular-parameter functions
    ("functions/user-defined-functions.md", "Tabular parameters",
     "let MyFilter = (T:(x:long), v:long) { T | where x >= v }; MyFilter((range x from 1 to 10 step 1), 9)",
     [{"x": 9}, {"x": 10}], False),
    ("functions/user-defined-functions.md", "Tabular parameters (wildcard schema)",
     "let MyDistinct = (T:(*)) { T | distinct * }; MyDistinct((range x from 1 to 3 step 1))",
     [{"x": 1}, {"x": 2}, {"x": 3}], False),
    ("functions/user-defined-functions.md", "Invoking a user-defined function (invoke)",
     'let append_to_column_a=(T:(a:string), what:string) { T | extend a=strcat(a, " ", what) }; '
     'datatable (a:string) ["sad", "really", "sad"] | invoke append_to_column_a(":-)")',
     [{"a": "sad :-)"}, {"a": "really :-)"}, {"a": "sad :-)"}], True),
    # --- array_index_of
    ("array-index-of-function.md", "Examples",
     'let arr=dynamic(["this", "is", "an", "example", "an", "example"]); print idx1 = array_index_of(arr,"an"), '
     'idx2 = array_index_of(arr,"example",1,3), idx3 = array_index_of(arr,"example",1,2), '
     'idx4 = array_index_of(arr,"is",2,4), idx5 = array_index_of(arr,"example",2,-1), '
     'idx6 = array_index_of(arr, "an", 1, -1, 2), idx7 = array_index_of(arr, "an", 1, -1, 3), '
     'idx8 = array_index_of(arr, "an", -3), idx9 = array_index_of(arr, "is", -4)',
     [{"idx1": 2, "idx2": 3, "idx3": -1, "idx4": -1, "idx5": 3, "idx6": 4, "idx7": -1, "idx8": 4, "idx9": -1}], True),
    # --- mv-expand / mv-apply
    ("mv-expand-operator.md", "Using with_itemindex",
     "range x from 1 to 4 step 1 | summarize x = make_list(x) | mv-expand with_itemindex=Index x",
     [{"x": 1, "Index": 0}, {"x": 2, "Index": 1}, {"x": 3, "Index": 2}, {"x": 4, "Index": 3}], True),
    # "RowLimit: The maximum number of rows generated from each original row"
    ("mv-expand-operator.md", "Parameters (RowLimit)",
     "datatable(a:int, b:dynamic)[1, dynamic([10, 20, 30]), 2, dynamic([40])] | mv-expand b limit 2",
     [{"a": 1, "b": 10}, {"a": 1, "b": 20}, {"a": 2, "b": 40}], True),
    ("mv-apply-operator.md", "Internal mv-expand done by mv-apply",
     "let data = datatable (index: int, Arr: dynamic) [0, dynamic([7]), 1, dynamic([6, 11, 7])]; "
     "data | mv-apply Arr2=Arr to typeof(long) on (take 100)",
     [{"index": 0, "Arr": [7], "Arr2": 7}, {"index": 1, "Arr": [6, 11, 7], "Arr2": 6},
      {"index": 1, "Arr": [6, 11, 7], "Arr2": 11}, {"index": 1, "Arr": [6, 11, 7], "Arr2": 7}], True),
    ("mv-apply-operator.md", "Getting the largest element from the array",
     "let data = datatable (index: int, Arr: dynamic) [0, dynamic([1, 5, 3]), 1, dynamic([10, 2, 5, 7])]; "
     "data | mv-apply topElem=Arr to typeof(long) on (top 1 by topElem)",
     [{"index": 0, "Arr": [1, 5, 3], "topElem": 5}, {"index": 1, "Arr": [10, 2, 5, 7], "topElem": 10}], True),
    ("mv-apply-operator.md", "Find top two elements in an array",
     MV_APPLY_DATA.replace("[4, 10, 8, 7]", "[4, 10, 8, 7]").replace("[5, 1, 3]", "[5, 1, 3]")
     + "data | mv-apply Arr2=Arr to typeof(long) on (top 2 by Arr2 | summarize Top2=make_list(Arr2))",
     [{"index": 0, "Arr": [5, 1, 3], "Top2": [5, 3]}, {"index": 1, "Arr": [4, 10, 8, 7], "Top2": [10, 8]}], True),
    ("mv-apply-operator.md", "Using with_itemindex for working with a subset of the array",
     "let data = datatable (row: int, Arr: dynamic) [0, dynamic([5, 1, 3]), 1, dynamic([4, 10, 8, 7])]; "
     "data | mv-apply with_itemindex=index value=Arr to typeof(long) on (where index >= 2)",
     [{"row": 0, "Arr": [5, 1, 3], "value": 3, "index": 2}, {"row": 1, "Arr": [4, 10, 8, 7], "value": 8, "index": 2},
      {"row": 1, "Arr": [4, 10, 8, 7], "value": 7, "index": 3}], True),
    ("mv-apply-operator.md", "Using multiple columns to join element of two arrays",
     'datatable (Val: int, Arr1: dynamic, Arr2: dynamic) [1, dynamic(["A1", "A2"]), dynamic(["B1", "B2", "B3"]), '
     '5, dynamic(["C1", "C2"]), dynamic(["D1"])] | mv-apply T1=Arr1, T2=Arr2 on '
     '(extend Out = strcat(T1, "_", T2) | summarize Out= make_list(Out))',
     [{"Val": 1, "Arr1": ["A1", "A2"], "Arr2": ["B1", "B2", "B3"], "Out": ["A1_B1", "A2_B2", "_B3"]},
      {"Val": 5, "Arr1": ["C1", "C2"], "Arr2": ["D1"], "Out": ["C1_D1", "C2_"]}], True),
    # --- render with a property list: the rows are those of its input (render page, "Syntax")
    ("render-operator.md", "Syntax (with PropertyName = PropertyValue)",
     'range x from 1 to 2 step 1 | render timechart with (title="t", xtitle="x", ytitle="y")',
     [{"x": 1}, {"x": 2}], True),
    # --- search and find as sources (search page, "Search predicate syntax examples" equivalences)
    ("search-operator.md", "Search predicate syntax examples (1: search \"err\" is where * has \"err\")",
     'let T1 = datatable(a:string, n:long)["an err here", 1, "errors", 2]; search in (T1) "err"',
     [{"$table": "T1", "a": "an err here", "n": 1}], True),
    ("search-operator.md", "Search predicate syntax examples (5 and 7: err* is hasprefix, *err* is contains)",
     'let T1 = datatable(a:string)["errors", "terror", "no"]; search in (T1) "err*" or a == "no"',
     [{"$table": "T1", "a": "errors"}, {"$table": "T1", "a": "no"}], False),
    ("find-operator.md", "Output schema (project)",
     'let T1 = datatable(a:string, n:long)["x", 1]; let T2 = datatable(a:string, m:long)["x", 2, "y", 3]; '
     'find in (T1, T2) where a == "x" project a, n',
     [{"source_": "T1", "a": "x", "n": 1}, {"source_": "T2", "a": "x", "n": None}], False),
    # --- functions
    ("extract-json-function.md", "Examples",
     "let json = '{\"name\": \"John\", \"age\": 30, \"city\": \"New York\"}'; "
     'print extract_json("$.name", json, typeof(string))',
     [{"print_0": "John"}], True),
    ("string-size-function.md", "Examples",
     'print a = string_size("hello"), b = string_size("⒦⒰⒮⒯⒪")', [{"a": 5, "b": 15}], True),
    ("unicode-codepoints-to-string-function.md", "Examples",
     "print a = unicode_codepoints_to_string(75, 117, 115, 116, 111), "
     "b = unicode_codepoints_to_string(dynamic([75, 117, 115, 116, 111])), "
     "c = unicode_codepoints_to_string(dynamic([75, 117, 115]), 116, 111)",
     [{"a": "Kusto", "b": "Kusto", "c": "Kusto"}], True),
    ("hash-function.md", "Examples",
     'print a = hash("World"), b = hash("World", 100), c = hash(datetime("2015-01-01"))',
     [{"a": 1846988464401551951, "b": 51, "c": 1380966698541616202}], True),
    ("countof-function.md", "Examples",
     'print a = countof("aaa", "a"), b = countof("aaaa", "aa"), c = countof("ababa", "ab", "normal"), '
     'd = countof("ababa", "aba"), e = countof("ababa", "aba", "regex"), f = countof("abcabc", "a.c", "regex")',
     [{"a": 3, "b": 3, "c": 2, "d": 2, "e": 1, "f": 2}], True),
    ("parse-command-line-function.md", "Example",
     'print parse_command_line("echo \\"hello world!\\"", "windows")', [{"print_0": ["echo", "hello world!"]}], True),
    # nanosecond is left out: datetimes are kept to the microsecond here (Kusto keeps 100 ns ticks)
    ("datetime-part-function.md", "Example",
     'let dt = datetime(2017-10-30 01:02:03.7654321); print year = datetime_part("year", dt), '
     'quarter = datetime_part("quarter", dt), month = datetime_part("month", dt), '
     'weekOfYear = datetime_part("week_of_year", dt), day = datetime_part("day", dt), '
     'dayOfYear = datetime_part("dayOfYear", dt), hour = datetime_part("hour", dt), '
     'minute = datetime_part("minute", dt), second = datetime_part("second", dt), '
     'millisecond = datetime_part("millisecond", dt), microsecond = datetime_part("microsecond", dt)',
     [{"year": 2017, "quarter": 4, "month": 10, "weekOfYear": 44, "day": 30, "dayOfYear": 303, "hour": 1,
       "minute": 2, "second": 3, "millisecond": 765, "microsecond": 765432}], True),
    # --- aggregates inside scalar functions in summarize ("The aggregation ... can be any expression")
    ("summarize-operator.md", "Parameters (Aggregation: an aggregation function call, possibly within an expression)",
     'datatable(k:string, x:long)["a", 1, "a", 2, "b", 3] | summarize s = tostring(make_list(x)), '
     'f = iff(count() > 1, "many", "one") by k',
     [{"k": "a", "s": "[1,2]", "f": "many"}, {"k": "b", "s": "[3]", "f": "one"}], False),
    # --- bag_unpack and ipv4_lookup
    ("bag-unpack-plugin.md", "Examples (Expand a bag)",
     'datatable(d:dynamic)[dynamic({"Name": "John", "Age":20}), dynamic({"Name": "Dave", "Age":40}), '
     'dynamic({"Name": "Jasmine", "Age":30})] | evaluate bag_unpack(d)',
     [{"Age": 20, "Name": "John"}, {"Age": 40, "Name": "Dave"}, {"Age": 30, "Name": "Jasmine"}], True),
    ("bag-unpack-plugin.md", "Examples (columnsConflict)",
     "datatable(Name:string, d:dynamic)['James', dynamic({\"Name\": \"John\", \"Age\":20}), "
     "'David', dynamic({ \"Age\":40}), 'Emily', dynamic({\"Name\": \"Jasmine\", \"Age\":30})] "
     "| evaluate bag_unpack(d, columnsConflict='replace_source')",
     [{"Name": "John", "Age": 20}, {"Name": "", "Age": 40}, {"Name": "Jasmine", "Age": 30}], True),
    ("ipv4-lookup-plugin.md", "IPv4 lookup - return both matching and nonmatching rows",
     IP_DATA + "IPs | evaluate ipv4_lookup(IP_Data, ip, network, return_unmatched = true)",
     [{"ip": "2.20.183.12", "network": "2.20.183.0/24", "continent_code": "EU", "continent_name": "Europe",
       "country_iso_code": "GB", "country_name": "United Kingdom"},
      {"ip": "5.8.1.2", "network": "5.8.0.0/19", "continent_code": "EU", "continent_name": "Europe",
       "country_iso_code": "RU", "country_name": "Russia"},
      {"ip": "192.165.12.17", "network": "", "continent_code": "", "continent_name": "", "country_iso_code": "",
       "country_name": ""}], False),
    ("ipv4-is-match-function.md", "IP-prefix notation inside the strings and as an argument",
     "datatable(ip1_string:string, ip2_string:string, prefix:long) ['192.168.1.1', '192.168.1.0', 31, "
     "'192.168.1.1/24', '192.168.1.255', 31, '192.168.1.1', '192.168.1.255', 24] "
     "| extend result = ipv4_is_match(ip1_string, ip2_string, prefix) | project result",
     [{"result": True}, {"result": True}, {"result": True}], True),
    ("ipv4-compare-function.md", "Compare IPs using the IP-prefix notation specified inside the IPv4 strings",
     "datatable(ip1_string:string, ip2_string:string) ['192.168.1.0', '192.168.1.0', '192.168.1.1/24', "
     "'192.168.1.255', '192.168.1.1', '192.168.1.255/24', '192.168.1.1/30', '192.168.1.255/24'] "
     "| extend result = ipv4_compare(ip1_string, ip2_string) | project result",
     [{"result": 0}, {"result": 0}, {"result": 0}, {"result": 0}], True),
    ("ipv4-is-in-any-range-function.md", "Examples",
     "print a = ipv4_is_in_any_range('192.168.1.6', '192.168.1.1/24', '10.0.0.1/8', '127.1.0.1/16'), "
     'b = ipv4_is_in_any_range("127.0.0.1", dynamic(["127.0.0.1", "192.168.1.1"]))',
     [{"a": True, "b": True}], True),
    ("ipv4-is-in-any-range-function.md", "Extend table with IPv4 range check",
     'let LocalNetworks=dynamic(["192.168.1.1/16", "127.0.0.1/8", "10.0.0.1/8"]); '
     'let IPs=datatable(IP:string) ["10.1.2.3", "192.168.1.5", "123.1.11.21", "1.1.1.1"]; '
     "IPs | extend IsLocal=ipv4_is_in_any_range(IP, LocalNetworks)",
     [{"IP": "10.1.2.3", "IsLocal": True}, {"IP": "192.168.1.5", "IsLocal": True},
      {"IP": "123.1.11.21", "IsLocal": False}, {"IP": "1.1.1.1", "IsLocal": False}], True),
    ("bag-has-key-function.md", "Examples",
     "datatable(input: dynamic) [dynamic({'key1' : 123, 'key2': 'abc'}), dynamic({'key1' : 123, 'key3': 'abc'})] "
     "| project result = bag_has_key(input, 'key2')", [{"result": True}, {"result": False}], True),
    ("bag-has-key-function.md", "Examples (JSONPath key)",
     "datatable(input: dynamic) [dynamic({'key1': 123, 'key2': {'prop1' : 'abc', 'prop2': 'xyz'}, "
     "'key3': [100, 200]})] | project result = bag_has_key(input, '$.key2.prop1')", [{"result": True}], True),
    # --- special reals and the sort table
    ("sort-operator.md", "Using special floating-point values (asc, nulls first)",
     f"{SPECIALS} | sort by x asc nulls first",
     [{"x": v} for v in (None, "NaN", "-Infinity", -5.0, 0.0, 5.0, "Infinity")], True),
    ("sort-operator.md", "Using special floating-point values (desc, nulls first)",
     f"{SPECIALS} | sort by x desc nulls first",
     [{"x": v} for v in (None, "NaN", "Infinity", 5.0, 0.0, -5.0, "-Infinity")], True),
    ("sort-operator.md", "Using special floating-point values (asc, nulls last)",
     f"{SPECIALS} | sort by x asc nulls last",
     [{"x": v} for v in ("-Infinity", -5.0, 0.0, 5.0, "Infinity", "NaN", None)], True),
    ("sort-operator.md", "Using special floating-point values (desc, nulls last)",
     f"{SPECIALS} | sort by x desc nulls last",
     [{"x": v} for v in ("Infinity", 5.0, 0.0, -5.0, "-Infinity", "NaN", None)], True),
    ("top-operator.md", "Parameters (top sorts as sort does: desc and nulls last by default)",
     f"{SPECIALS} | top 3 by x", [{"x": v} for v in ("Infinity", 5.0, 0.0)], True),
]


@pytest.mark.parametrize(("page", "section", "query", "expected", "ordered"), CASES,
                         ids=[f"{c[0]}#{c[1]}" for c in CASES])
def test_documented_example(engine: KqlEngine, page: str, section: str, query: str,
                            expected: list[dict[str, Any]], ordered: bool) -> None:
    got = rows(engine, query)
    if not ordered:
        got, expected = sorted(got, key=key), sorted(expected, key=key)
    assert got == expected


def test_special_real_literals(engine: KqlEngine) -> None:
    """scalar-data-types/real.md, "Special values": real(nan), real(+inf), real(-inf), and 1.0/0.0."""
    r = engine.run("print a = real(nan), b = real(+inf), c = real(-inf), d = 1.0 / 0.0, e = -1.0 / 0.0",
                   "<doc>", NOW).rows[0]
    assert math.isnan(r[0]) and r[1] == math.inf and r[2] == -math.inf and r[3] == math.inf and r[4] == -math.inf


def test_make_set_of_arrays_is_the_set_of_their_elements(engine: KqlEngine) -> None:
    """make-set-aggregation-function.md, "Set from array column" (a set's order is undefined)."""
    out = rows(engine, "datatable (Val: int, Arr1: dynamic) [1, dynamic(['A1', 'A2', 'A3']), "
                       "5, dynamic(['A2', 'C1']), 7, dynamic(['C2', 'A3']), 5, dynamic(['C2', 'A1'])] "
                       "| summarize Val_set=make_set(Val), Arr1_set=make_set(Arr1)")
    assert sorted(out[0]["Val_set"]) == [1, 5, 7]
    assert sorted(out[0]["Arr1_set"]) == ["A1", "A2", "A3", "C1", "C2"]


def test_rand_ranges(engine: KqlEngine) -> None:
    """rand-function.md, "Returns": rand() in [0.0, 1.0); rand(N) in [0, N-1]."""
    out = rows(engine, "range i from 1 to 200 step 1 | extend a = rand(), b = rand(10) "
                       "| summarize mina = min(a), maxa = max(a), minb = min(b), maxb = max(b), n = dcount(b)")[0]
    assert 0.0 <= out["mina"] <= out["maxa"] < 1.0 and 0 <= out["minb"] <= out["maxb"] <= 9 and out["n"] > 1


def test_geo_info_needs_geoip_data(engine: KqlEngine) -> None:
    """geo-info-from-ip-address-function.md: answered from GeoIP data this engine does not have."""
    with pytest.raises(UnsupportedError, match="unsupported: needs GeoIP data") as info:
        engine.run('print geo_info_from_ip_address("20.53.203.50")', "<doc>", NOW)
    assert info.value.location is not None and (info.value.location.line, info.value.location.column) == (1, 7)


def test_countof_kind_must_be_normal_or_regex(engine: KqlEngine) -> None:
    with pytest.raises(RuleError, match="kind"):
        engine.run('print countof("a", "a", "other")', "<doc>", NOW)


@pytest.mark.parametrize("spelling", ["kind=array", "bagexpansion=array", "kind = array"])
def test_mv_expand_array_expansion_is_refused_not_ignored(engine: KqlEngine, spelling: str) -> None:
    """mv-expand-operator.md, "Syntax": ``kind=(bag|array)`` (``bagexpansion=`` its legacy name). Array
    expansion of bags is not implemented: either spelling is a located UnsupportedError (``kind=``
    used to be taken as bag expansion, silently)."""
    q = f"print d = dynamic({{'a': 1, 'b': 2}}) | mv-expand {spelling} d"
    with pytest.raises(UnsupportedError, match="bagexpansion=array") as info:
        engine.run(q, "<doc>", NOW)
    assert info.value.location is not None and info.value.location.line == 1
    assert rows(engine, "print d = dynamic({'a': 1}) | mv-expand kind=bag d") == [{"d": {"a": 1}}]

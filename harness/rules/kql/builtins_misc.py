"""Built-in functions: dates, math, hashing, IPs, URLs, window functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.rules.kql import syntax as ast
from harness.rules.kql.functions import FUNCTIONS, Fn, fn
from harness.rules.kql.sqlbase import _DT_FORMAT, NUMERIC, ORD, SQL_TYPES, Binding, Scope, q, s

if TYPE_CHECKING:
    from harness.rules.kql.translate import Translator


@fn("ago")
def _ago(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt != "timespan":
        raise t.err(e, "ago() needs a timespan")
    return f"({t.now_sql()} - {x})", "datetime"


@fn("now")
def _now(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 1)
    if a:
        return f"({t.now_sql()} + {a[0][0]})", "datetime"
    return t.now_sql(), "datetime"


@fn("datetime_add")
def _datetime_add(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    part = t.const_string(e.args[0], env)
    units = {"year": "years", "quarter": None, "month": "months", "week": "weeks", "day": "days",
             "hour": "hours", "minute": "minutes", "second": "seconds", "millisecond": "milliseconds",
             "microsecond": "microseconds"}
    if part is None or units.get(part.lower()) is None:
        raise t.unsup(e, f"datetime_add() part {part!r} is not supported")
    return f"({a[2][0]} + to_{units[part.lower()]}(CAST({a[1][0]} AS BIGINT)))", "datetime"


@fn("datetime_diff")
def _datetime_diff(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    part = t.const_string(e.args[0], env)
    if part is None or part.lower() not in ("year", "quarter", "month", "week", "day", "hour", "minute",
                                            "second", "millisecond", "microsecond"):
        raise t.unsup(e, f"datetime_diff() part {part!r} is not supported")
    return f"date_diff({s(part.lower())}, {a[2][0]}, {a[1][0]})", "long"


@fn("datetime_part", "datepart")
def _datetime_part(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    part = t.const_string(e.args[0], env)
    if part is None:
        raise t.unsup(e, "datetime_part() needs a constant part")
    p = {"weekofyear": "week", "week_of_year": "week", "dayofyear": "doy"}.get(part.lower(), part.lower())
    # DuckDB's microsecond part counts the seconds too; Kusto's sub-second parts are the fraction only
    frac = f"(date_part('microsecond', {a[1][0]}) % 1000000)"
    sub = {"millisecond": f"{frac} // 1000", "microsecond": frac, "nanosecond": f"{frac} * 1000"}
    if p in sub:
        return f"CAST({sub[p]} AS INTEGER)", "int"
    return f"CAST(date_part({s(p)}, {a[1][0]}) AS INTEGER)", "int"


def _date_fn(sqlf: Callable[[str], str], typ: str) -> Fn:
    def f(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        a = t.args(e, sc, env, 1, 2)
        if len(a) == 2:
            raise t.unsup(e, f"{e.name}() with an offset is not supported")
        return sqlf(a[0][0]), typ
    return f


FUNCTIONS["startofday"] = _date_fn(lambda x: f"date_trunc('day', {x})", "datetime")
FUNCTIONS["startofmonth"] = _date_fn(lambda x: f"date_trunc('month', {x})", "datetime")
FUNCTIONS["startofyear"] = _date_fn(lambda x: f"date_trunc('year', {x})", "datetime")
FUNCTIONS["startofweek"] = _date_fn(
    lambda x: f"CAST(CAST({x} AS DATE) - CAST(dayofweek({x}) AS INTEGER) AS TIMESTAMP)", "datetime")
FUNCTIONS["endofday"] = _date_fn(
    lambda x: f"(date_trunc('day', {x}) + INTERVAL 1 DAY - INTERVAL 1 MICROSECOND)", "datetime")
FUNCTIONS["hourofday"] = _date_fn(lambda x: f"CAST(hour({x}) AS INTEGER)", "int")
FUNCTIONS["dayofmonth"] = _date_fn(lambda x: f"CAST(day({x}) AS INTEGER)", "int")
FUNCTIONS["dayofyear"] = _date_fn(lambda x: f"CAST(dayofyear({x}) AS INTEGER)", "int")
FUNCTIONS["monthofyear"] = _date_fn(lambda x: f"CAST(month({x}) AS INTEGER)", "int")
FUNCTIONS["getmonth"] = FUNCTIONS["monthofyear"]
FUNCTIONS["getyear"] = _date_fn(lambda x: f"CAST(year({x}) AS INTEGER)", "int")
FUNCTIONS["week_of_year"] = _date_fn(lambda x: f"CAST(weekofyear({x}) AS INTEGER)", "int")
FUNCTIONS["dayofweek"] = _date_fn(lambda x: f"to_days(CAST(dayofweek({x}) AS INTEGER))", "timespan")


@fn("bin", "floor")
def _bin(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (b, bt) = t.args(e, sc, env, 2, 2)
    if xt == "datetime" and bt == "timespan":
        return f"time_bucket({b}, {x}, TIMESTAMP '1970-01-01')", "datetime"
    if xt in NUMERIC and bt in NUMERIC:
        if xt == "real" or bt == "real":
            return f"(floor({x} / {b}) * {b})", "real"
        return f"CAST(floor({x} / {b}) * {b} AS {SQL_TYPES[xt]})", xt
    if xt == "timespan" and bt == "timespan":
        return f"to_microseconds(CAST(floor(epoch({x}) / epoch({b})) * epoch({b}) * 1000000 AS BIGINT))", xt
    raise t.err(e, f"bin() cannot bin {xt} by {bt}")


@fn("format_datetime")
def _format_datetime(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    fmt = t.const_string(e.args[1], env)
    if fmt is None:
        raise t.unsup(e, "format_datetime() needs a constant format")
    out = ""
    i = 0
    while i < len(fmt):
        for k, v in _DT_FORMAT:
            if fmt.startswith(k, i):
                out += v
                i += len(k)
                break
        else:
            c = fmt[i]
            if c.isalpha():
                raise t.unsup(e, f"format_datetime() specifier {c!r} is not supported")
            out += c.replace("%", "%%")
            i += 1
    return f"coalesce(strftime({a[0][0]}, {s(out)}), '')", "string"


@fn("unixtime_seconds_todatetime", "unixtime_milliseconds_todatetime", "unixtime_microseconds_todatetime")
def _unixtime(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, _), = t.args(e, sc, env, 1, 1)
    mult = {"unixtime_seconds_todatetime": 1000000, "unixtime_milliseconds_todatetime": 1000,
            "unixtime_microseconds_todatetime": 1}[e.name]
    return f"make_timestamp(CAST({x} * {mult} AS BIGINT))", "datetime"


@fn("make_datetime")
def _make_datetime(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = [x for x, _ in t.args(e, sc, env, 3, 7)] + ["0", "0", "0"]
    return f"make_timestamp({a[0]}, {a[1]}, {a[2]}, {a[3]}, {a[4]}, {a[5]})", "datetime"


def _math(sqlname: str, typ: str | None, lo: int = 1, hi: int = 1) -> Fn:
    def f(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        a = t.args(e, sc, env, lo, hi)
        return f"{sqlname}({', '.join(x for x, _ in a)})", typ or a[0][1]
    return f


@fn("abs")
def _abs(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "timespan":
        return f"(CASE WHEN {x} < INTERVAL 0 MICROSECOND THEN -({x}) ELSE {x} END)", xt
    return f"abs({x})", xt


for _n, _s, _t2 in ( ("sqrt", "sqrt", "real"), ("log", "ln", "real"),
                    ("log10", "log10", "real"), ("log2", "log2", "real"), ("exp", "exp", "real"),
                    ("ceiling", "ceil", None), ("sign", "sign", None), ("isnan", "isnan", "bool"),
                    ("isinf", "isinf", "bool"), ("isfinite", "isfinite", "bool")):
    FUNCTIONS[_n] = _math(_s, _t2)
FUNCTIONS["pow"] = _math("pow", "real", 2, 2)
FUNCTIONS["round"] = _math("round", None, 1, 2)
FUNCTIONS["max_of"] = _math("greatest", None, 2, 64)
FUNCTIONS["min_of"] = _math("least", None, 2, 64)


@fn("not")
def _not(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "dynamic":
        x = f"TRY_CAST(kql_dstr({x}) AS BOOLEAN)"
    elif xt not in ("bool", "null"):
        raise t.err(e, f"not() needs a bool, not {xt}")
    return f"(NOT {x})", "bool"


@fn("indexof")
def _indexof(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x, n = t.to_string(*a[0]), t.to_string(*a[1])
    if len(a) == 2:
        return f"CAST(strpos({x}, {n}) - 1 AS BIGINT)", "long"
    st = a[2][0]
    # search from character `start`; -1 when not found (null for a start past the end, as Kusto)
    return (f"CAST(CASE WHEN {st} > length({x}) THEN NULL WHEN strpos(substring({x}, {st} + 1), {n}) = 0 THEN -1 "
            f"ELSE strpos(substring({x}, {st} + 1), {n}) - 1 + {st} END AS BIGINT)"), "long"


@fn("format_timespan")
def _format_timespan(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (f, ft) = t.args(e, sc, env, 2, 2)
    if xt != "timespan":
        raise t.err(e, "format_timespan() needs a timespan")
    return (f"coalesce(kql_format_timespan(CAST(epoch_us(TIMESTAMP '1970-01-01' + {x}) AS BIGINT), "
            f"{t.to_string(f, ft)}), '')"), "string"


@fn("range")
def _range_fn(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    step = a[2][0] if len(a) == 3 else "1"
    if a[0][1] not in NUMERIC:
        raise t.unsup(e, f"range() over {a[0][1]} is not supported")
    return f"to_json(generate_series({a[0][0]}, {a[1][0]}, {step}))", "dynamic"


@fn("reverse")
def _reverse(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"reverse({t.to_string(x, xt)})", "string"


@fn("url_decode", "url_encode", "url_encode_component")
def _url(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    f = "url_decode" if e.name == "url_decode" else "url_encode"
    return f"coalesce({f}({t.to_string(x, xt)}), '')", "string"


@fn("base64_decode_tostring", "base64_decodestring")
def _b64d(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"kql_b64decode({t.to_string(x, xt)})", "string"


@fn("base64_encode_tostring", "base64_encodestring")
def _b64e(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"to_base64(encode({t.to_string(x, xt)}))", "string"


@fn("hash_sha256", "hash_md5", "hash_sha1")
def _hashes(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    f = {"hash_sha256": "sha256", "hash_md5": "md5", "hash_sha1": "sha1"}[e.name]
    return f"{f}({t.to_string(x, xt)})", "string"


@fn("ipv4_is_private", "ipv4_is_in_range", "ipv4_compare", "parse_ipv4", "ipv4_is_match")
def _ipv4(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    nargs = {"ipv4_is_private": (1, 1), "ipv4_is_in_range": (2, 2), "ipv4_compare": (2, 3),
             "parse_ipv4": (1, 1), "ipv4_is_match": (2, 3)}[e.name]
    a = t.args(e, sc, env, *nargs)
    xs = [t.to_string(x, xt) for x, xt in a[:2]]
    if e.name == "ipv4_is_private":
        return f"kql_ipv4_is_private({xs[0]})", "bool"
    if e.name == "ipv4_is_in_range":
        return f"kql_ipv4_in_range({xs[0]}, {xs[1]})", "bool"
    if e.name == "parse_ipv4":
        return f"kql_parse_ipv4({xs[0]})", "long"
    prefix = f"CAST({a[2][0]} AS BIGINT)" if len(a) == 3 else "NULL"
    cmp = f"kql_ipv4_compare({xs[0]}, {xs[1]}, {prefix})"
    if e.name == "ipv4_compare":
        return cmp, "long"
    if e.name == "ipv4_is_match":
        return f"({cmp} = 0)", "bool"
    raise t.unsup(e, f"function '{e.name}' is not supported")


@fn("parse_url")
def _parse_url(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(kql_parse_url({t.to_string(x, xt)}) AS JSON)", "dynamic"


@fn("typeof", "gettype")
def _typeof(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    if len(e.args) == 1 and isinstance(e.args[0], ast.Name) and e.args[0].name.lower() in ast.SCALAR_TYPES \
            and e.args[0].name not in sc.cols:
        return s(ast.SCALAR_TYPES[e.args[0].name.lower()]), "string"
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "dynamic":
        return (f"coalesce(CASE json_type({x}) WHEN 'OBJECT' THEN 'dictionary' WHEN 'ARRAY' THEN 'array' "
                f"WHEN 'VARCHAR' THEN 'string' WHEN 'UBIGINT' THEN "
                f"(CASE WHEN TRY_CAST({x} AS HUGEINT) < 2147483648 THEN 'int' ELSE 'long' END) WHEN 'BIGINT' THEN "
                f"(CASE WHEN abs(TRY_CAST({x} AS HUGEINT)) < 2147483648 THEN 'int' ELSE 'long' END) "
                f"WHEN 'DOUBLE' THEN 'real' WHEN 'BOOLEAN' THEN 'bool' WHEN 'NULL' THEN 'null' END, 'null')"), \
            "string"
    names = {"int": "int", "long": "long", "real": "real", "string": "string", "bool": "bool",
             "datetime": "datetime", "timespan": "timespan", "guid": "guid", "decimal": "decimal", "null": "null"}
    return s(names.get(xt, xt)), "string"


@fn("ingestion_time")
def _ingestion_time(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    t.args(e, sc, env, 0, 0)
    # Replayed telemetry has no ingestion pipeline: the record's own time stands in for it.
    for c in ("TimeGenerated", "Timestamp"):
        if sc.cols.get(c) == "datetime":
            return q(c), "datetime"
    return "CAST(NULL AS TIMESTAMP)", "datetime"


@fn("column_ifexists")
def _column_ifexists(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    if len(e.args) != 2:
        raise t.err(e, "column_ifexists() takes 2 arguments")
    cname = t.const_string(e.args[0], env)
    if cname is None:
        raise t.err(e, "column_ifexists() needs a constant column name")
    if cname in sc.cols:
        return q(cname), sc.cols[cname]
    return t.expr(e.args[1], sc, env)


@fn("row_number")
def _row_number(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 1)
    if not sc.ordered:
        raise t.err(e, "row_number() needs a serialized (sorted) input")
    start = f"{a[0][0]} - 1 + " if a else ""
    return f"({start}row_number() OVER (ORDER BY {q(ORD)}))", "long"


@fn("prev", "next")
def _prev(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 1, 3)
    if not sc.ordered:
        raise t.err(e, f"{e.name}() needs a serialized (sorted) input")
    f = "lag" if e.name == "prev" else "lead"
    extra = f", {a[1][0]}" if len(a) > 1 else ""
    extra += f", {a[2][0]}" if len(a) > 2 else ""
    val = f"{f}({a[0][0]}{extra}) OVER (ORDER BY {q(ORD)})"
    return (f"coalesce({val}, '')" if a[0][1] == "string" else val), a[0][1]


@fn("strrep")
def _strrep(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x = t.to_string(*a[0])
    if len(a) == 3:
        return f"array_to_string(list_transform(range({a[1][0]}), lambda i: {x}), {t.to_string(*a[2])})", "string"
    return f"repeat({x}, CAST({a[1][0]} AS BIGINT))", "string"


@fn("isascii")
def _isascii(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"regexp_matches({t.to_string(x, xt)}, '^[\\x00-\\x7F]*$')", "bool"


@fn("strcmp")
def _strcmp(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (a, at), (b, bt) = t.args(e, sc, env, 2, 2)
    a, b = t.to_string(a, at), t.to_string(b, bt)
    return f"(CASE WHEN {a} < {b} THEN -1 WHEN {a} > {b} THEN 1 ELSE 0 END)", "int"

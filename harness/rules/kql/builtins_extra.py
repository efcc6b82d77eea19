"""Built-in functions: JSON paths, byte sizes, code points, hashing, counting, bit operations, random."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from harness.rules.kql import syntax as ast
from harness.rules.kql.functions import fn
from harness.rules.kql.sqlbase import NUMERIC, Binding, Scope, s

if TYPE_CHECKING:
    from harness.rules.kql.translate import Translator


def json_path(path: str) -> str:
    """A Kusto JSONPath (``$.a.b``, ``$['a b']``, ``$[0]``) in DuckDB's path syntax."""
    return re.sub(r"\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]",
                  lambda m: '."' + (m.group(1) if m.group(1) is not None else m.group(2)) + '"', path)


@fn("extractjson", "extract_json")
def _extract_json(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """extract_json(path, text[, typeof(T)]) (extract-json page): the value at the path, as text or T."""
    target = "string"
    args = e.args
    if len(args) == 3:
        tn = args[2]
        if not (isinstance(tn, ast.Call) and tn.name == "typeof" and len(tn.args) == 1
                and isinstance(tn.args[0], ast.Name)):
            raise t.err(tn, f"{e.name}(): the 3rd argument must be typeof(T)")
        target = ast.SCALAR_TYPES.get(tn.args[0].name.lower(), "string")
        args = args[:2]
    path = t.const_string(args[0], env)
    if path is None:
        raise t.unsup(e, f"{e.name}() needs a constant JSONPath")
    x, xt = t.expr(args[1], sc, env)
    doc = f"kql_parse_json({t.to_string(x, xt)})" if xt != "dynamic" else x
    val = f"json_extract({doc}, {s(json_path(path))})"
    if target == "dynamic":
        return val, "dynamic"
    if target == "string":
        return f"kql_dstr({val})", "string"
    return t.convert(val, "dynamic", target), target


@fn("string_size")
def _string_size(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """The length in bytes (UTF-8) of the string (string-size page: "⒦⒰⒮⒯⒪" is 15)."""
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(octet_length(encode({t.to_string(x, xt)})) AS BIGINT)", "long"


@fn("unicode_codepoints_to_string", "make_string")
def _codepoints(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """Characters from code points, given as numbers or dynamic arrays of them (null if one is invalid)."""
    parts = []
    for x, xt in t.args(e, sc, env, 1, 64):
        if xt == "dynamic":
            parts.append(f"(CASE WHEN json_type({x}) = 'ARRAY' THEN CAST({x} AS BIGINT[]) "
                         f"ELSE [TRY_CAST(kql_dstr({x}) AS BIGINT)] END)")
        elif xt in ("long", "int"):
            parts.append(f"[CAST({x} AS BIGINT)]")
        else:
            raise t.err(e, f"{e.name}() needs numbers or arrays of them, not {xt}")
    codes = parts[0] if len(parts) == 1 else "flatten([" + ", ".join(parts) + "])"
    return f"kql_codepoints({codes})", "string"


@fn("rand")
def _rand(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """rand() is a real in [0, 1); rand(N) a long in [0, N-1] (rand page)."""
    a = t.args(e, sc, env, 0, 1)
    if not a:
        return "random()", "real"
    return f"CAST(floor(random() * {a[0][0]}) AS BIGINT)", "long"


@fn("hash")
def _hash(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """XXH64 of the value: a string's UTF-8 bytes, a number's or a datetime's ticks as 8 bytes
    (hash page: hash("World") is 1846988464401551951, hash(datetime("2015-01-01")) 1380966698541616202)."""
    a = t.args(e, sc, env, 1, 2)
    x, xt = a[0]
    if xt in ("string", "guid"):
        h = f"kql_xxh64({x}, TRUE)"
    elif xt in ("long", "int", "bool"):
        h = f"kql_xxh64(CAST(CAST({x} AS BIGINT) AS VARCHAR), FALSE)"
    elif xt == "datetime":
        h = f"kql_xxh64(CAST(epoch_us({x}) * 10 + 621355968000000000 AS VARCHAR), FALSE)"
    elif xt == "timespan":
        h = f"kql_xxh64(CAST(epoch_us(TIMESTAMP '1970-01-01' + {x}) * 10 AS VARCHAR), FALSE)"
    else:
        raise t.unsup(e, f"hash() of {xt} is not supported")
    if len(a) == 2:
        return f"(({h} % {a[1][0]}) + {a[1][0]}) % {a[1][0]}", "long"
    return h, "long"


@fn("countof")
def _countof(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """Plain matches may overlap, regex matches do not (countof page: countof("aaaa", "aa") is 3)."""
    a = t.args(e, sc, env, 2, 3)
    x, n = t.to_string(*a[0]), t.to_string(*a[1])
    kind = t.const_string(e.args[2], env) if len(a) == 3 else "normal"
    if kind == "regex":
        return f"CAST(len(regexp_extract_all({x}, {n})) AS BIGINT)", "long"
    if kind != "normal":
        raise t.err(e, f"countof(): kind must be 'normal' or 'regex', not {kind!r}")
    return (f"CAST(len(list_filter(range(1, length({x}) - length({n}) + 2), "
            f"lambda i: substring({x}, i, length({n})) = {n})) AS BIGINT)"), "long"


def _binary(sqlop: str, nargs: int) -> None:
    def f(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        a = t.args(e, sc, env, nargs, nargs)
        for _, at in a:
            if at not in NUMERIC - {"real"} | {"null"}:
                raise t.err(e, f"{e.name}() needs integers, not {at}")
        xs = [f"CAST({x} AS BIGINT)" for x, _ in a]
        if sqlop == "xor":
            return f"xor({xs[0]}, {xs[1]})", "long"
        return (f"({sqlop}{xs[0]})" if nargs == 1 else f"({xs[0]} {sqlop} {xs[1]})"), "long"
    fn(*[n for n, (o, k) in _BINARY.items() if o == sqlop and k == nargs])(f)


_BINARY = {"binary_and": ("&", 2), "binary_or": ("|", 2), "binary_xor": ("xor", 2), "binary_not": ("~", 1),
           "binary_shift_left": ("<<", 2), "binary_shift_right": (">>", 2)}
for _op, _k in set(_BINARY.values()):
    _binary(_op, _k)


@fn("dynamic_to_json")
def _dynamic_to_json(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"coalesce(CAST({t.to_dynamic(x, xt)} AS VARCHAR), 'null')", "string"


@fn("parse_command_line")
def _parse_command_line(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """The arguments as CommandLineToArgvW splits them (parse-command-line page; "windows" only)."""
    a = t.args(e, sc, env, 2, 2)
    kind = t.const_string(e.args[1], env)
    if kind is None or kind.lower() != "windows":
        raise t.unsup(e, "parse_command_line() supports the \"windows\" parser only")
    return f"CAST(kql_argv({t.to_string(*a[0])}) AS JSON)", "dynamic"


@fn("geo_info_from_ip_address")
def _geo_info(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    # Kusto answers country, state, city and coordinates from its GeoIP data; no PyPI package ships
    # a current city-level database, and a partial answer would be a wrong one.
    raise t.unsup(e, "unsupported: needs GeoIP data (geo_info_from_ip_address)")


@fn("parse_csv")
def _parse_csv(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(kql_parse_csv({t.to_string(x, xt)}) AS JSON)", "dynamic"


@fn("new_guid")
def _new_guid(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    # new_guid(): a random (version 4) guid per row, as DuckDB's uuid() is evaluated per row
    t.args(e, sc, env, 0, 0)
    return "CAST(uuid() AS VARCHAR)", "guid"


@fn("has_ipv4", "has_ipv4_prefix")
def _has_ipv4(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (p, pt) = t.args(e, sc, env, 2, 2)
    whole = "true" if e.name == "has_ipv4" else "false"
    return f"kql_has_ipv4({t.to_string(x, xt)}, {t.to_string(p, pt)}, {whole})", "bool"


@fn("array_sort_asc", "array_sort_desc")
def _array_sort(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 1, 2)
    if len(a) == 2 and a[1][1] != "bool":
        # several arrays sort together into several columns: not supported by one extend name here
        raise t.unsup(e, f"{e.name}() over several arrays is not supported")
    x, xt = a[0]
    if xt not in ("dynamic", "null"):
        raise t.err(e, f"{e.name}() needs a dynamic array, not {xt}")
    nulls_last = a[1][0] if len(a) == 2 else "NULL"
    desc = "true" if e.name == "array_sort_desc" else "false"
    return f"CAST(kql_array_sort(CAST({x} AS VARCHAR), {desc}, {nulls_last}) AS JSON)", "dynamic"


@fn("parse_xml")
def _parse_xml(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(kql_parse_xml({t.to_string(x, xt)}) AS JSON)", "dynamic"


@fn("base64_decode_toarray")
def _b64_array(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(kql_b64_bytes({t.to_string(x, xt)}) AS JSON)", "dynamic"


@fn("ipv4_is_in_any_range")
def _ipv4_any_range(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """The address against ranges given as strings or as one dynamic array (ipv4-is-in-any-range page)."""
    a = t.args(e, sc, env, 2, 64)
    ip = t.to_string(*a[0])
    if len(a) == 2 and a[1][1] == "dynamic":
        ranges = f"[kql_dstr(r) for r in CAST({a[1][0]} AS JSON[])]"
    else:
        ranges = "[" + ", ".join(t.to_string(x, xt) for x, xt in a[1:]) + "]"
    return f"kql_ipv4_any_range({ip}, {ranges})", "bool"


@fn("bag_has_key")
def _bag_has_key(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    """Whether the bag has the key, or the JSONPath ``$.a.b`` (bag-has-key page)."""
    (x, xt), (k, kt) = t.args(e, sc, env, 2, 2)
    bag = t.as_dynamic(x, xt, e)
    key = t.const_string(e.args[1], env)
    if key is not None:
        path = s(json_path(key) if key.startswith("$") else "$." + json.dumps(key))
    else:
        path = f"'$.' || to_json({t.to_string(k, kt)})::VARCHAR"
    return f"coalesce(json_type({bag}) = 'OBJECT' AND json_exists({bag}, {path}), FALSE)", "bool"

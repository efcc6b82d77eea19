"""Built-in functions: conversions, strings, dynamic values."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from harness.rules.kql import syntax as ast
from harness.rules.kql.functions import FUNCTIONS, Fn, fn
from harness.rules.kql.sqlbase import NUMERIC, SQL_TYPES, Binding, Scope

if TYPE_CHECKING:
    from harness.rules.kql.translate import Translator




@fn("tostring")
def _tostring(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return t.to_string(x, xt), "string"


def _caster(target: str) -> Fn:
    def f(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        (x, xt), = t.args(e, sc, env, 1, 1)
        if xt == target:
            return x, target
        if xt == "dynamic":
            x, xt = f"kql_dstr({x})", "string"
        if target in ("long", "int") and xt == "string":
            # a fractional text value truncates toward zero, as a real does
            return f"TRY_CAST(trunc(TRY_CAST(nullif(trim({x}), '') AS DOUBLE)) AS {SQL_TYPES[target]})", target
        if target in ("long", "int") and xt == "real":
            return f"CAST(trunc({x}) AS {SQL_TYPES[target]})", target
        if target in ("long", "int", "real") and xt == "datetime":
            return f"CAST(epoch_us({x}) * 10 + 621355968000000000 AS {SQL_TYPES[target]})", target
        if target in ("long", "int", "real") and xt == "timespan":
            return f"CAST(epoch({x}) * 10000000 AS {SQL_TYPES[target]})", target
        if target == "bool" and xt == "string":
            return f"(CASE lower(trim({x})) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE WHEN '1' THEN TRUE " \
                   f"WHEN '0' THEN FALSE END)", target
        if target == "bool" and xt in NUMERIC:
            return f"({x} <> 0)", target
        if target == "datetime":
            return (f"kql_todt({x})" if xt == "string" else f"TRY_CAST({x} AS TIMESTAMP)"), target
        if target == "timespan" and xt == "string":
            return f"kql_totimespan({x})", target
        return f"TRY_CAST({x} AS {SQL_TYPES[target]})", target
    return f


for _n, _t in (("toint", "int"), ("tolong", "long"), ("todouble", "real"), ("toreal", "real"),
               ("todecimal", "real"), ("tobool", "bool"), ("toboolean", "bool"), ("todatetime", "datetime"),
               ("totimespan", "timespan"), ("toguid", "guid")):
    FUNCTIONS[_n] = _caster(_t)


@fn("tolower", "toupper")
def _case(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    f = "lower" if e.name.lower() == "tolower" else "upper"
    return f"{f}({t.to_string(x, xt)})", "string"


@fn("strcat")
def _strcat(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    parts = [t.to_string(x, xt) for x, xt in t.args(e, sc, env, 1, 64)]
    return "concat(" + ", ".join(parts) + ")", "string"


@fn("strcat_delim")
def _strcat_delim(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    parts = [t.to_string(x, xt) for x, xt in t.args(e, sc, env, 2, 65)]
    return "concat_ws(" + ", ".join(parts) + ")", "string"


@fn("strlen")
def _strlen(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"CAST(length({t.to_string(x, xt)}) AS BIGINT)", "long"


@fn("substring")
def _substring(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x = t.to_string(*a[0])
    # a negative start counts from the end (substring page, "Parameters": substring("123456", -2, 2) is "56")
    st = a[1][0]
    start = f"greatest(CASE WHEN {st} < 0 THEN length({x}) + {st} ELSE {st} END, 0) + 1"
    if len(a) == 3:
        return f"coalesce(substring({x}, {start}, greatest({a[2][0]}, 0)), '')", "string"
    return f"coalesce(substring({x}, {start}), '')", "string"


@fn("split")
def _split(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 3)
    x, d = t.to_string(*a[0]), t.to_string(*a[1])
    parts = f"string_split({x}, {d})"
    if len(a) == 3:
        i = a[2][0]
        return (f"to_json(CASE WHEN {i} >= 0 AND {i} < len({parts}) THEN [{parts}[{i} + 1]] "
                f"ELSE CAST([] AS VARCHAR[]) END)"), "dynamic"
    return f"to_json({parts})", "dynamic"


@fn("extract")
def _extract(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    if len(e.args) == 4:
        typ_node = e.args[3]
        if not (isinstance(typ_node, ast.Call) and typ_node.name == "typeof" and len(typ_node.args) == 1
                and isinstance(typ_node.args[0], ast.Name)):
            raise t.err(typ_node, "extract(): the 4th argument must be typeof(T)")
        target = ast.SCALAR_TYPES.get(typ_node.args[0].name.lower(), "string")
        e = ast.Call(e.line, e.col, e.name, e.args[:3])
    else:
        target = "string"
    a = t.args(e, sc, env, 3, 3)
    x = t.to_string(*a[2])
    grp = e.args[1]
    if not (isinstance(grp, ast.Lit) and isinstance(grp.value, int)):
        raise t.unsup(e, "extract() needs a constant capture group number")
    val = f"regexp_extract({x}, {a[0][0]}, {grp.value})"
    if target == "string":
        return val, "string"
    return t.convert(f"nullif({val}, '')", "string", target), target


@fn("extract_all")
def _extract_all(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    pat = t.const_string(e.args[0], env)
    if pat is None:
        raise t.unsup(e, "extract_all() needs a constant regex")
    groups = re.compile(pat).groups
    if groups > 1:
        raise t.unsup(e, "extract_all() with several capture groups is not supported")
    x = t.to_string(*a[1])
    return (f"CASE WHEN len(regexp_extract_all({x}, {a[0][0]}, {groups})) = 0 THEN CAST(NULL AS JSON) "
            f"ELSE to_json(regexp_extract_all({x}, {a[0][0]}, {groups})) END"), "dynamic"


@fn("replace_string", "replace")
def _replace_string(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    if e.name == "replace":  # legacy replace(regex, rewrite, text)
        return f"regexp_replace({t.to_string(*a[2])}, {a[0][0]}, {a[1][0]}, 'g')", "string"
    return f"replace({t.to_string(*a[0])}, {t.to_string(*a[1])}, {t.to_string(*a[2])})", "string"


@fn("replace_regex")
def _replace_regex(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 3)
    return f"regexp_replace({t.to_string(*a[0])}, {a[1][0]}, {a[2][0]}, 'g')", "string"


@fn("trim", "trim_start", "trim_end")
def _trim(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 2)
    x = t.to_string(*a[1])
    r = a[0][0]
    out = x
    if e.name in ("trim", "trim_start"):
        out = f"regexp_replace({out}, '^(?:' || {r} || ')+', '')"
    if e.name in ("trim", "trim_end"):
        out = f"regexp_replace({out}, '(?:' || {r} || ')+$', '')"
    return out, "string"


@fn("iff", "iif")
def _iff(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (c, ct), (a, at), (b, bt) = t.args(e, sc, env, 3, 3)
    return _case_sql(t, [(c, ct)], [(a, at), (b, bt)], e)


@fn("case")
def _case_fn(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 3, 999)
    if len(a) % 2 == 0:
        raise t.err(e, "case() needs pairs of predicate and value, then an else value")
    return _case_sql(t, a[0:-1:2], [*a[1:-1:2], a[-1]], e)


def _case_sql(self: Translator, conds: list[tuple[str, str]], vals: list[tuple[str, str]],
              e: ast.Node) -> tuple[str, str]:
    types = {vt for _, vt in vals if vt != "null"}
    if len(types) > 1 and not types <= NUMERIC:
        if "string" in types and types <= {"string", "dynamic"}:
            types = {"string"}
            vals = [(self.to_string(v, vt), "string") for v, vt in vals]
        else:
            raise self.err(e, f"case()/iff() branches have different types: {', '.join(sorted(types))}")
    typ = "real" if "real" in types else ("long" if "long" in types and len(types) > 1 else
                                         (next(iter(types)) if types else "null"))
    parts = " ".join(f"WHEN {c} THEN {v}" for (c, _), (v, _) in zip(conds, vals, strict=False))
    return f"(CASE {parts} ELSE {vals[-1][0]} END)", typ



@fn("isempty", "isnotempty", "notempty")
def _isempty(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt in ("string", "guid"):
        test = f"coalesce({x}, '') = ''"
    elif xt == "dynamic":
        test = f"kql_dstr({x}) = ''"
    else:
        test = f"{x} IS NULL"
    return (test if e.name == "isempty" else f"NOT ({test})"), "bool"


@fn("isnull", "isnotnull", "notnull")
def _isnull(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    test = "FALSE" if xt == "string" else (
        f"({x} IS NULL OR json_type({x}) = 'NULL')" if xt == "dynamic" else f"{x} IS NULL")
    return (test if e.name == "isnull" else f"NOT ({test})"), "bool"


@fn("coalesce")
def _coalesce(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 64)
    types = {at for _, at in a if at != "null"}
    if types == {"string"}:
        return "coalesce(" + ", ".join(f"nullif({x}, '')" for x, _ in a) + ", '')", "string"
    typ = next(iter(types)) if len(types) == 1 else ("real" if types <= NUMERIC else "dynamic")
    if typ == "dynamic":
        return "coalesce(" + ", ".join(t.to_dynamic(x, xt) for x, xt in a) + ")", typ
    return "coalesce(" + ", ".join(x for x, _ in a) + ")", typ


@fn("array_length")
def _array_length(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    x = t.as_dynamic(x, xt, e)
    return f"CAST(CASE WHEN json_type({x}) = 'ARRAY' THEN json_array_length({x}) END AS BIGINT)", "long"


@fn("array_index_of")
def _array_index_of(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 2, 5)
    x = t.as_dynamic(a[0][0], a[0][1], e)
    rest = [f"CAST({v} AS BIGINT)" for v, _ in a[2:]] + ["NULL"] * (5 - len(a))
    return (f"kql_array_index_of(CAST({x} AS VARCHAR), CAST({t.to_dynamic(*a[1])} AS VARCHAR), "
            f"{', '.join(rest)})"), "long"


@fn("set_has_element")
def _set_has(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (v, vt) = t.args(e, sc, env, 2, 2)
    x = t.as_dynamic(x, xt, e)
    return f"coalesce(list_contains(CAST({x} AS JSON[]), {t.to_dynamic(v, vt)}), FALSE)", "bool"


@fn("array_slice")
def _array_slice(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (a, _), (b, _) = t.args(e, sc, env, 3, 3)
    return f"to_json((CAST({t.as_dynamic(x, xt, e)} AS JSON[]))[{a} + 1:{b} + 1])", "dynamic"


@fn("array_concat")
def _array_concat(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 1, 64)
    parts = [f"CAST({t.as_dynamic(x, xt, e)} AS JSON[])" for x, xt in a]
    out = parts[0]
    for p in parts[1:]:
        out = f"list_concat({out}, {p})"
    return f"to_json({out})", "dynamic"


@fn("strcat_array")
def _strcat_array(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), (d, dt) = t.args(e, sc, env, 2, 2)
    return (f"coalesce(array_to_string([kql_dstr(j) for j in CAST({t.as_dynamic(x, xt, e)} AS JSON[])], "
            f"{t.to_string(d, dt)}), '')"), "string"


@fn("parse_json", "todynamic", "todynamic", "parsejson", "toobject")
def _parse_json(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    if xt == "dynamic":
        return x, xt
    if xt == "string":
        return f"kql_parse_json({x})", "dynamic"
    return t.to_dynamic(x, xt), "dynamic"


@fn("pack_array")
def _pack_array(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 999)
    return "json_array(" + ", ".join(t.to_dynamic(x, xt) for x, xt in a) + ")", "dynamic"


@fn("pack", "pack_dictionary", "bag_pack")
def _pack(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    a = t.args(e, sc, env, 0, 999)
    if len(a) % 2:
        raise t.err(e, f"{e.name}() needs key/value pairs")
    parts = []
    for i in range(0, len(a), 2):
        parts.append(t.to_string(*a[i]))
        parts.append(t.to_dynamic(*a[i + 1]))
    return "json_object(" + ", ".join(parts) + ")", "dynamic"


@fn("bag_keys")
def _bag_keys(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"to_json(json_keys({t.as_dynamic(x, xt, e)}))", "dynamic"


@fn("parse_version")
def _parse_version(t: Translator, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
    (x, xt), = t.args(e, sc, env, 1, 1)
    return f"kql_parse_version({t.to_string(x, xt)})", "decimal"

"""String and list predicates, conversions to string/dynamic, and function-call dispatch."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from harness.errors import UnsupportedError
from harness.rules.kql import syntax as ast
from harness.rules.kql.functions import AGGREGATES, FUNCTIONS
from harness.rules.kql.scalar import ScalarExprs
from harness.rules.kql.sqlbase import (
    Binding,
    Rel,
    Scope,
    any_term_regex,
    q,
    s,
    term_regex,
)

if TYPE_CHECKING:
    from harness.rules.kql.translate import Translator


class ScalarOps(ScalarExprs):
    """String operators, in-lists, conversions and calls."""

    # string operators
    def string_op(self, e: ast.Bin, a: str, at: str, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        op = e.op
        neg = op.startswith("!")
        base = op.lstrip("!")
        hay = self.to_string(a, at)
        if base == "matches regex":
            pat, _ = self.expr(e.right, sc, env)
            return f"regexp_matches({hay}, {pat})", "bool"
        const = self.const_string(e.right, env)
        if const is None:
            b, bt = self.expr(e.right, sc, env)
            needle = self.to_string(b, bt)
            sql = self.string_test(base, hay, needle, None)
        else:
            sql = self.string_test(base, hay, s(const), const)
        return (f"(NOT {sql})" if neg else sql), "bool"

    def string_test(self, base: str, hay: str, needle: str, const: str | None) -> str:
        cs = base.endswith("_cs")
        kind = base[:-3] if cs else base
        # string expressions are never NULL here (see NOT NULL STRINGS in the module doc), so the
        # tests need no NULL guard, which lets DuckDB push them into the scan
        if kind in ("has", "hasprefix", "hassuffix"):
            pre = kind != "hassuffix"
            suf = kind != "hasprefix"
            if const is not None:
                return f"regexp_matches({hay}, {s(term_regex(const, cs, pre, suf))})"
            return f"coalesce(kql_has({hay}, {needle}, {'TRUE' if cs else 'FALSE'}, {pre}, {suf}), FALSE)"
        if kind == "contains":
            if cs:
                return f"contains({hay}, {needle})"
            return f"contains(lower({hay}), lower({needle}))"
        if kind == "startswith":
            return f"starts_with({hay}, {needle})" if cs else f"starts_with(lower({hay}), lower({needle}))"
        if kind == "endswith":
            return f"ends_with({hay}, {needle})" if cs else f"ends_with(lower({hay}), lower({needle}))"
        raise UnsupportedError(f"string operator '{base}' is not supported")

    def const_string(self, e: ast.Expr, env: dict[str, Binding]) -> str | None:
        if isinstance(e, ast.Lit) and e.type == "string":
            return str(e.value)
        if isinstance(e, ast.Name):
            b = env.get(e.name)
            if b is not None and b.kind == "expr":
                return self.const_string(b.value, b.env or {})
        return None

    def const_list(self, items: tuple[ast.Expr, ...], env: dict[str, Binding]) -> list[ast.Expr] | None:
        """Flatten in-list items, expanding dynamic array constants and let names bound to them."""
        out: list[ast.Expr] = []
        for it in items:
            if isinstance(it, ast.Name) and it.name in env and env[it.name].kind == "expr":
                b = env[it.name]
                sub = self.const_list((b.value,), b.env or {})
                if sub is None:
                    return None
                out.extend(sub)
            elif isinstance(it, ast.Lit) and it.type == "dynamic" and isinstance(it.value, list):
                for v in it.value:
                    if isinstance(v, (dict, list)):
                        return None
                    t = ("string" if isinstance(v, str) else "bool" if isinstance(v, bool) else
                         "long" if isinstance(v, int) else "real" if isinstance(v, float) else "null")
                    out.append(ast.Lit(it.line, it.col, v, t))
            elif isinstance(it, ast.Call) and it.name == "pack_array":
                sub = self.const_list(it.args, env)
                if sub is None:
                    return None
                out.extend(sub)
            else:
                out.append(it)
        return out

    def in_list(self, e: ast.InList, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        x, xt = self.expr(e.left, sc, env)
        op = e.op
        # a single tabular argument: the first column of a subquery
        sub: Rel | None = None
        if len(e.items) == 1:
            it = e.items[0]
            if isinstance(it, ast.TabularArg):
                sub = self.query(it.query, env)
            elif isinstance(it, ast.Name) and it.name in env and env[it.name].kind in ("query", "rel"):
                sub = self.table(ast.TableRef(it.line, it.col, it.name), env)
        if sub is not None:
            if not sub.cols:
                raise self.err(e, "the tabular argument has no columns")
            col, ct = sub.cols[0]
            a = self.alias()
            if op.startswith("has"):
                cs_sql = "TRUE" if op.endswith("_cs") else "FALSE"
                any_sql = (f"EXISTS (SELECT 1 FROM ({sub.sql}) AS {a} WHERE kql_has({self.to_string(x, xt)}, "
                           f"{self.to_string(q(col), ct)}, {cs_sql}, TRUE, TRUE))")
                if op.startswith("has_all"):
                    raise self.unsup(e, "has_all with a tabular argument is not supported")
                return any_sql, "bool"
            ci = op.endswith("~")
            left = f"lower({self.to_string(x, xt)})" if ci else x
            right = f"lower({self.to_string(q(col), ct)})" if ci else q(col)
            neg = "NOT " if op.startswith("!") else ""
            return f"coalesce({left} {neg}IN (SELECT {right} FROM ({sub.sql}) AS {a}), {neg == ''} = FALSE)", "bool"
        items = self.const_list(e.items, env)
        if items is None:
            raise self.unsup(e, f"'{op}' over nested dynamic values is not supported")
        if op.startswith("has"):
            cs = op.endswith("_cs")
            hay = self.to_string(x, xt)
            consts = [self.const_string(i, env) for i in items]
            if op.startswith("has_any") and items and all(c is not None for c in consts):
                rx = any_term_regex([c or "" for c in consts], cs)
                return f"regexp_matches({hay}, {s(rx)})", "bool"
            tests = []
            for i in items:
                c = self.const_string(i, env)
                if c is not None:
                    tests.append(self.string_test("has_cs" if cs else "has", hay, s(c), c))
                else:
                    b, bt = self.expr(i, sc, env)
                    tests.append(self.string_test("has_cs" if cs else "has", hay, self.to_string(b, bt), None))
            if not tests:
                return "FALSE", "bool"
            j = " OR " if op.startswith("has_any") else " AND "
            return "(" + j.join(tests) + ")", "bool"
        vals = []
        for i in items:
            v, vt = self.expr(i, sc, env)
            if op.endswith("~"):
                v = f"lower({self.to_string(v, vt)})"
            elif xt == "dynamic":
                v = self.to_string(v, vt)
            vals.append(v)
        if not vals:
            return ("TRUE" if op.startswith("!") else "FALSE"), "bool"
        left = x
        if op.endswith("~"):
            left = f"lower({self.to_string(x, xt)})"
        elif xt == "dynamic":
            left = f"kql_dstr({x})"
        neg = "NOT " if op.startswith("!") else ""
        if xt in ("string", "dynamic", "guid") or op.endswith("~"):
            return f"({left} {neg}IN ({', '.join(vals)}))", "bool"  # a string is never NULL
        null_value = "TRUE" if neg else "FALSE"
        return f"coalesce({left} {neg}IN ({', '.join(vals)}), {null_value})", "bool"

    # conversions
    def to_string(self, sql: str, t: str) -> str:
        if t in ("string", "guid", "decimal"):
            return sql
        if t == "null":
            return "''"
        if t == "dynamic":
            return f"kql_dstr({sql})"
        if t == "datetime":
            return f"coalesce(strftime({sql}, '%Y-%m-%dT%H:%M:%S.%f') || '0Z', '')"
        if t == "timespan":
            return f"coalesce(kql_span_str(CAST(epoch_us(TIMESTAMP '1970-01-01' + {sql}) AS BIGINT)), '')"
        if t == "bool":
            return f"coalesce(CASE WHEN {sql} THEN 'true' ELSE 'false' END, '')"
        return f"coalesce(CAST({sql} AS VARCHAR), '')"

    def to_dynamic(self, sql: str, t: str) -> str:
        if t == "dynamic":
            return sql
        if t == "datetime":
            return f"to_json({self.to_string(sql, t)})"
        if t == "timespan":
            return f"to_json({self.to_string(sql, t)})"
        if t == "null":
            return "CAST(NULL AS JSON)"
        return f"to_json({sql})"

    # function calls
    def user_scalar_call(self, node: ast.Node, name: str, args: list[ast.Expr], sc: Scope,
                         env: dict[str, Binding]) -> tuple[str, str]:
        b = env[name]
        fd: ast.FunctionDef = b.value
        if isinstance(fd.result, ast.Query):
            raise self.err(node, f"'{name}' is a tabular function")
        fenv = dict(b.env or {})
        if len(args) > len(fd.params):
            raise self.err(node, f"function '{name}' takes {len(fd.params)} argument(s)")
        for i, p in enumerate(fd.params):
            if i < len(args):
                sql, typ = self.expr(args[i], sc, env)
            elif p.default is not None:
                sql, typ = self.expr(p.default, Scope(), fenv)
            else:
                raise self.err(node, f"function '{name}' needs argument '{p.name}'")
            fenv[p.name] = Binding("sql", sql, type=typ)
        for let in fd.body:
            fenv = self.bind_let(let, fenv)
        return self.expr(fd.result, Scope(dict(sc.cols), sc.alias, ordered=sc.ordered), fenv)

    def call(self, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        name = e.name
        b = env.get(name)
        if b is not None and b.kind == "func":
            return self.user_scalar_call(e, name, list(e.args), sc, env)
        fn = FUNCTIONS.get(name)
        if fn is None:
            if name.lower() in AGGREGATES:
                raise self.err(e, f"aggregation function '{name}' is only allowed in summarize")
            raise self.unsup(e, f"function '{name}' is not supported")
        return fn(cast("Translator", self), e, sc, env)

    def args(self, e: ast.Call, sc: Scope, env: dict[str, Binding], lo: int, hi: int) -> list[tuple[str, str]]:
        if not lo <= len(e.args) <= hi:
            raise self.err(e, f"{e.name}(): expected {lo}..{hi} arguments, got {len(e.args)}")
        return [self.expr(a, sc, env) for a in e.args]

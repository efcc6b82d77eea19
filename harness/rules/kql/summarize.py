"""``summarize`` and its aggregation functions."""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.rules.kql import syntax as ast
from harness.rules.kql.functions import AGGREGATES
from harness.rules.kql.operators import Operators
from harness.rules.kql.sqlbase import (
    ORD,
    SQL_TYPES,
    Binding,
    Rel,
    Scope,
    q,
    s,
)

_NAME_KEEPING = {"tostring", "todynamic", "tolong", "toint", "todouble", "toreal", "array_sort_asc",
                 "array_sort_desc", "strcat_array"}


class Summarize(Operators):
    """summarize: grouping and aggregates."""

    # summarize
    def summarize(self, rel: Rel, aggs: list[ast.Assign], by: list[ast.Assign], env: dict[str, Binding],
                  op: ast.Op) -> Rel:
        if any(not self.is_aggregate_call(item.expr) for item in aggs):
            return self.summarize_wrapped(rel, aggs, by, env, op)
        sc = self.scope(rel)
        by_sels: list[str] = []
        by_cols: list[tuple[str, str]] = []
        for item in by:
            sql, typ = self.expr(item.expr, sc, env)
            nm = item.names[0] if item.names else self.infer_name(item.expr, self.next_column({c for c, _ in by_cols}))
            by_sels.append(f"{sql} AS {q(nm)}")
            by_cols.append((nm, self.real_type(typ)))
        inner: list[str] = list(by_sels)
        outer: list[str] = [q(n) for n, _ in by_cols]
        cols: list[tuple[str, str]] = list(by_cols)
        taken = {n for n, _ in by_cols}
        k = 0
        for i, item in enumerate(aggs):
            if not isinstance(item.expr, ast.Call):
                raise self.err(item, "summarize needs an aggregation function")
            inners, outs = self.aggregate(item, sc, env, rel, taken, i)
            names = {}
            for key, sql in inners:
                k += 1
                names[key] = q(f"__a{k}")
                inner.append(f"{sql} AS {names[key]}")
            for j, (out_name, template, typ) in enumerate(outs):
                if out_name in taken:
                    if item.names and j == 0:
                        raise self.err(item, f"A column named '{out_name}' is already defined in summarize")
                    # Kusto suffixes an inferred name that is taken: ReportId -> ReportId1
                    n = 1
                    while f"{out_name}{n}" in taken:
                        n += 1
                    out_name = f"{out_name}{n}"
                outer.append(f"{template.format(**names)} AS {q(out_name)}")
                cols.append((out_name, typ))
                taken.add(out_name)
        group = " GROUP BY " + ", ".join(str(i + 1) for i in range(len(by_sels))) if by_sels else ""
        a = self.alias()
        inner_sql = f"SELECT {', '.join(inner)} FROM ({rel.sql}) AS {a}{group}"
        return Rel(f"SELECT {', '.join(outer)} FROM ({inner_sql}) AS {self.alias()}", cols)

    @staticmethod
    def is_aggregate_call(e: ast.Expr) -> bool:
        return isinstance(e, ast.Call) and e.name.lower() in AGGREGATES

    def summarize_wrapped(self, rel: Rel, aggs: list[ast.Assign], by: list[ast.Assign],
                          env: dict[str, Binding], op: ast.Op) -> Rel:
        """Aggregates inside scalar expressions (``tostring(make_set(x))``, ``iff(count() > 1, ...)``).

        Each aggregate call becomes a hidden summarize column; the expressions are then computed
        over the grouped rows, the by-columns first as summarize puts them.
        """
        hidden: list[ast.Assign] = []

        def lift(e: Any) -> Any:
            if self.is_aggregate_call(e):
                name = f"__agg{len(hidden)}"
                hidden.append(ast.Assign(e.line, e.col, (name,), e))
                return ast.Name(e.line, e.col, name)
            if isinstance(e, ast.Node) and dataclasses.is_dataclass(e):
                changes: dict[str, Any] = {}
                for f in dataclasses.fields(e):
                    v = getattr(e, f.name)
                    if isinstance(v, ast.Node):
                        changes[f.name] = lift(v)
                    elif isinstance(v, tuple) and any(isinstance(x, ast.Node) for x in v):
                        changes[f.name] = tuple(lift(x) if isinstance(x, ast.Node) else x for x in v)
                return dataclasses.replace(e, **changes) if changes else e
            return e

        plain: list[ast.Assign] = []
        outputs: list[tuple[ast.Assign, ast.Expr | None]] = []
        for item in aggs:
            if self.is_aggregate_call(item.expr):
                plain.append(item)
                outputs.append((item, None))
                continue
            e = item.expr
            if (not item.names and isinstance(e, ast.Call) and e.name in _NAME_KEEPING and e.args
                    and self.is_aggregate_call(e.args[0])):
                # tostring(make_set(x)) is named as make_set(x) is: set_x
                item = ast.Assign(item.line, item.col, (self.aggregate_name(e.args[0]),), e)
            outputs.append((item, lift(item.expr)))
        if not hidden:
            raise self.err(aggs[0], "summarize needs an aggregation function")
        summ = self.summarize(rel, plain + hidden, by, env, op)
        by_names = [n for n, _ in summ.cols[:len(by)]]
        plain_cols = [(n, t) for n, t in summ.cols[len(by):] if not n.startswith("__agg")]
        sc = self.scope(summ)
        sels = [q(n) for n in by_names]
        cols = list(summ.cols[:len(by)])
        taken = {n for n, _ in summ.cols}
        for item, expr in outputs:
            if expr is None:  # the plain aggregates' columns, where the first of them stands
                sels.extend(q(n) for n, _ in plain_cols)
                cols.extend(plain_cols)
                plain_cols = []
                continue
            sql, typ = self.expr(expr, sc, env)
            name = item.names[0] if item.names else self.next_column(taken)
            taken.add(name)
            sels.append(f"{self.cast_null(sql, typ)} AS {q(name)}")
            cols.append((name, self.real_type(typ)))
        return self.wrap(summ, sels, cols)

    def aggregate_name(self, call: ast.Expr) -> str:
        """The column name summarize gives an unnamed one-column aggregate."""
        assert isinstance(call, ast.Call)
        fn = call.name.lower()
        if (fn in ("count", "countif") and not call.args) or fn == "countif":
            return f"{fn}_"
        prefix = {"makeset": "set", "make_set": "set", "makelist": "list", "make_list": "list",
                  "make_set_if": "set", "make_list_if": "list", "take_any": "any"}.get(fn, fn)
        base = self.infer_name(call.args[0], "") if call.args else ""
        return f"{prefix}_{base}" if base else f"{prefix}_"

    def aggregate(self, item: ast.Assign, sc: Scope, env: dict[str, Binding], rel: Rel, taken: set[str],
                  i: int) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
        """Inner aggregate expressions (key, sql) and output columns (name, template over keys, type)."""
        single = self.aggregate_single(item, sc, env, rel, taken, i)
        if isinstance(single, tuple):
            return single
        inners = [(f"k{j}", sql) for j, (_, sql, _, _) in enumerate(single)]
        outs = [(n, f"{{k{j}}}", t) for j, (n, _, _, t) in enumerate(single)]
        return inners, outs

    def aggregate_single(self, item: ast.Assign, sc: Scope, env: dict[str, Binding], rel: Rel,
                         taken: set[str], i: int
                         ) -> list[tuple[str, str, str, str]] | tuple[list[tuple[str, str]],
                                                                       list[tuple[str, str, str]]]:
        call = item.expr
        assert isinstance(call, ast.Call)
        fn = call.name.lower()
        fn = {"makeset": "make_set", "makelist": "make_list", "take_any": "any", "arg_max": "arg_max",
              "argmax": "arg_max", "argmin": "arg_min", "make_set_if": "make_set_if",
              "make_list_if": "make_list_if", "stdevp": "stdevp", "anyif": "take_anyif",
              "take_anyif": "take_anyif"}.get(fn, fn)
        args = list(call.args)

        def a(k: int) -> tuple[str, str]:
            if k >= len(args):
                raise self.err(call, f"{call.name}() needs more arguments")
            return self.expr(args[k], sc, env)

        def nm(prefix: str) -> str:
            if item.names:
                return item.names[0]
            base = self.infer_name(args[0], "") if args else ""
            return f"{prefix}_{base}" if base else f"{prefix}_"

        one = "{x}"
        if fn in ("arg_max", "arg_min"):
            key_sql, key_t = a(0)
            wanted: list[tuple[str, str, str]] = []
            key_name = item.names[0] if item.names else self.infer_name(args[0], f"{fn[4:]}_")
            wanted.append((key_name, key_sql, key_t))
            for e in args[1:]:
                if isinstance(e, ast.Star):
                    for n, t in rel.cols:
                        if n not in taken and n != key_name and all(w[0] != n for w in wanted):
                            wanted.append((n, q(n), t))
                    continue
                if isinstance(e, ast.Name) and "*" in e.name:
                    for n, t in self.match_cols(rel, e.name, e):
                        if n not in taken and all(w[0] != n for w in wanted):
                            wanted.append((n, q(n), t))
                    continue
                esql, et = self.expr(e, sc, env)
                wanted.append((self.infer_name(e, f"Column{len(wanted)}"), esql, et))
            agg = "arg_max" if fn == "arg_max" else "arg_min"
            struct = "{" + ", ".join(f"{s('f' + str(k))}: {w[1]}" for k, w in enumerate(wanted)) + "}"
            # a group whose keys are all null still yields one of its rows (the arg_max page's example)
            first = f"first({struct} ORDER BY {q(ORD)})" if rel.ordered else f"first({struct})"
            inner = f"coalesce({agg}({struct}, {key_sql}) FILTER (WHERE {key_sql} IS NOT NULL), {first})"
            outs = []
            for k, (n, _, t) in enumerate(wanted):
                acc = f"({{s}}).f{k}"
                if t == "string":
                    acc = f"coalesce({acc}, '')"
                outs.append((n, acc, self.real_type(t)))
            if len(item.names) > 1:  # (a, b) = arg_max(x, y): the names go to the columns in order
                outs = [(item.names[k] if k < len(item.names) else n, acc, t) for k, (n, acc, t) in enumerate(outs)]
            return [("s", inner)], outs
        if fn == "count":
            if args:
                x, _ = a(0)
                return [(nm("count"), f"count({x})", one, "long")]
            return [(item.names[0] if item.names else "count_", "count(*)", one, "long")]
        if fn == "countif":
            x, _ = a(0)
            # count_if() over no rows is NULL in DuckDB; Kusto's countif() is 0
            return [(item.names[0] if item.names else "countif_", f"coalesce(count_if({x}), 0)", one, "long")]
        if fn in ("dcount", "count_distinct"):
            x, _ = a(0)
            return [(nm(fn), f"count(DISTINCT {x})", one, "long")]
        if fn in ("dcountif", "count_distinctif"):
            x, _ = a(0)
            p, _ = a(1)
            return [(nm("dcountif"), f"count(DISTINCT {x}) FILTER (WHERE {p})", one, "long")]
        if fn in ("sum", "sumif"):
            x, t = a(0)
            filt = f" FILTER (WHERE {a(1)[0]})" if fn == "sumif" else ""
            rt = "real" if t == "real" else "long"
            return [(nm(fn), f"CAST(sum({x}){filt} AS {SQL_TYPES[rt]})", one, rt)]
        if fn in ("min", "max", "minif", "maxif"):
            x, t = a(0)
            filt = f" FILTER (WHERE {a(1)[0]})" if fn.endswith("if") else ""
            agg = f"{fn[:3]}({x}){filt}"
            return [(nm(fn), f"coalesce({agg}, '')" if t == "string" else agg, one, t)]
        if fn in ("avg", "avgif"):
            x, t = a(0)
            if t == "timespan" or t == "datetime":
                raise self.unsup(call, f"avg of {t} is not supported")
            filt = f" FILTER (WHERE {a(1)[0]})" if fn == "avgif" else ""
            return [(nm(fn), f"avg({x}){filt}", one, "real")]
        if fn in ("make_set", "make_list", "make_set_if", "make_list_if"):
            x, t = a(0)
            base = "set" if "set" in fn else "list"
            is_if = fn.endswith("_if")
            filt = f"{x} IS NOT NULL" + (f" AND ({a(1)[0]})" if is_if else "")
            limit_idx = 2 if is_if else 1
            val = self.to_dynamic(x, t)
            if t == "dynamic":
                filt = f"{x} IS NOT NULL AND json_type({x}) <> 'NULL'"  + (f" AND ({a(1)[0]})" if is_if else "")
            # on sorted input make_list keeps the input order (make_list page, "Returns")
            order = f" ORDER BY {q(ORD)}" if rel.ordered and base == "list" else ""
            if base == "set":
                if t == "dynamic":
                    # make_set of arrays is the set of their elements (make_set page, "Set from array column")
                    flat = (f"flatten(list(CASE WHEN json_type({x}) = 'ARRAY' THEN CAST({x} AS JSON[]) "
                            f"ELSE [{x}] END) FILTER (WHERE {filt}))")
                    lst = f"list_distinct({flat})"
                else:
                    lst = f"list(DISTINCT {val}) FILTER (WHERE {filt})"
            else:
                lst = f"list({val}{order}) FILTER (WHERE {filt})"
            if len(args) > limit_idx:
                lst = f"({lst})[1:{self.const_int(args[limit_idx], env)}]"
            return [(nm(base), f"to_json(coalesce({lst}, []))", one, "dynamic")]
        if fn in ("make_bag", "make_bag_if"):
            x, t = a(0)
            filt = f" FILTER (WHERE {a(1)[0]})" if fn == "make_bag_if" else ""
            bag = self.to_dynamic(x, t)
            return [(nm("bag"), f"CAST(kql_merge_bags(list(CAST({bag} AS VARCHAR)){filt}) AS JSON)", one, "dynamic")]
        if fn in ("any", "take_anyif"):
            if args and isinstance(args[0], ast.Star):
                raise self.unsup(call, "take_any(*) is not supported")
            out = []
            for k, e in enumerate(args[:1] if fn == "take_anyif" else args):
                x, t = self.expr(e, sc, env)
                filt = f" FILTER (WHERE {a(1)[0]})" if fn == "take_anyif" else ""
                n = item.names[0] if item.names and k == 0 else (
                    f"any_{self.infer_name(e, '')}" if self.infer_name(e, "") else f"any_{k}")
                if (item.names and k == 0) or (not item.names and len(args) > 1):
                    n = item.names[0] if item.names and k == 0 else self.infer_name(e, f"any_{k}")
                agg = f"any_value({x}){filt}"
                out.append((n, f"coalesce({agg}, '')" if t == "string" else agg, one, self.real_type(t)))
            return out
        if fn in ("percentile",):
            x, t = a(0)
            pct = args[1]
            if not isinstance(pct, ast.Lit):
                raise self.unsup(call, "percentile needs a constant percentage")
            base = self.infer_name(args[0], "")
            name = item.names[0] if item.names else f"percentile_{base}_{str(pct.value).replace('.', '_')}"
            return [(name, f"quantile_disc({x}, {float(pct.value) / 100.0})", one, t)]
        if fn in ("stdev", "variance", "stdevp", "variancep"):
            x, _ = a(0)
            f = {"stdev": "stddev_samp", "variance": "var_samp", "stdevp": "stddev_pop", "variancep": "var_pop"}
            return [(nm(fn), f"{f[fn]}({x})", one, "real")]
        raise self.unsup(call, f"aggregation function '{call.name}' is not supported")

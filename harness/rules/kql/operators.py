"""The row-wise tabular operators (where, extend, project..., sort, top, take)."""

from __future__ import annotations

import fnmatch

from harness.rules.kql import syntax as ast
from harness.rules.kql.sqlbase import (
    ORD,
    Binding,
    Rel,
    Scope,
    q,
)
from harness.rules.kql.tabular import TabularSources


class Operators(TabularSources):
    """Tabular operators applied to a relation."""

    # operators
    def scope(self, rel: Rel) -> Scope:
        return Scope(dict(rel.cols), ordered=rel.ordered)

    def wrap(self, rel: Rel, sels: list[str], cols: list[tuple[str, str]], tail: str = "",
             keep_order: bool = True) -> Rel:
        ordered = rel.ordered and keep_order
        if ordered:
            sels = [*sels, q(ORD)]
        return Rel(f"SELECT {', '.join(sels) or 'NULL AS __empty'} FROM ({rel.sql}) AS {self.alias()}{tail}",
                   cols, ordered)

    def operator(self, op: ast.Op, rel: Rel, env: dict[str, Binding]) -> Rel:
        p = op.params
        name = op.name
        if name == "where":
            sql, typ = self.expr(p["pred"], self.scope(rel), env)
            if typ not in ("bool", "null", "dynamic"):
                raise self.err(p["pred"], f"where predicate must be bool, not {typ}")
            if typ == "dynamic":
                sql = f"TRY_CAST(kql_dstr({sql}) AS BOOLEAN)"
            if " OVER (" in sql:  # row_number()/prev() in a predicate: SQL evaluates windows after WHERE
                kept = self.wrap(rel, [q(n) for n, _ in rel.cols] + [f"{sql} AS __keep"], list(rel.cols))
                return self.wrap(kept, [q(n) for n, _ in rel.cols], list(rel.cols), " WHERE __keep")
            return self.wrap(rel, [q(n) for n, _ in rel.cols], list(rel.cols), f" WHERE {sql}")
        if name == "extend":
            for i, item in enumerate(p["items"]):
                rel = self.extend_one(rel, item, env, i)
            return rel
        if name == "project":
            sc = self.scope(rel)
            sels, cols, seen = [], [], set()
            for item in p["items"]:
                if isinstance(item.expr, ast.Star) and not item.names:
                    for n, t in rel.cols:
                        sels.append(q(n))
                        cols.append((n, t))
                        seen.add(n)
                    continue
                if isinstance(item.expr, ast.Name) and "*" in item.expr.name and not item.names:
                    for n, t in self.match_cols(rel, item.expr.name, item.expr):
                        sels.append(q(n))
                        cols.append((n, t))
                        seen.add(n)
                    continue
                sql, typ = self.expr(item.expr, sc, env)
                names = item.names or (self.infer_name(item.expr, self.next_column(seen)),)
                if len(names) != 1:
                    raise self.unsup(item, "multiple names in project are not supported")
                if names[0] in seen:
                    raise self.err(item, f"A column named '{names[0]}' is already defined in project")
                seen.add(names[0])
                sels.append(f"{self.cast_null(sql, typ)} AS {q(names[0])}")
                cols.append((names[0], self.real_type(typ)))
            return self.wrap(rel, sels, cols)
        if name in ("project-away", "project-keep"):
            drop: set[str] = set()
            for n, tok in p["names"]:
                matched = self.match_cols(rel, n, ast.Name(tok.line, tok.col, n))
                drop.update(m for m, _ in matched)
            keep = [(n, t) for n, t in rel.cols if (n in drop) == (name == "project-keep")]
            return self.wrap(rel, [q(n) for n, _ in keep], keep)
        if name == "project-reorder":
            first: list[tuple[str, str]] = []
            for n, tok in p["names"]:
                for m in self.match_cols(rel, n, ast.Name(tok.line, tok.col, n)):
                    if m not in first:
                        first.append(m)
            cols = first + [c for c in rel.cols if c not in first]
            return self.wrap(rel, [q(n) for n, _ in cols], cols)
        if name == "project-rename":
            renames: dict[str, str] = {}
            for new, old, tok in p["pairs"]:
                if rel.col_type(old) is None:
                    raise self.err(ast.Name(tok.line, tok.col, old),
                                   f"Failed to resolve scalar expression named '{old}'")
                renames[old] = new
            sels = [f"{q(n)} AS {q(renames.get(n, n))}" for n, _ in rel.cols]
            return self.wrap(rel, sels, [(renames.get(n, n), t) for n, t in rel.cols])
        if name == "sort":
            return self.sort(rel, p["keys"], env)
        if name == "top":
            n_sql = self.const_int(p["n"], env)
            r = self.sort(rel, p["keys"], env)
            return Rel(f"SELECT * FROM ({r.sql}) AS {self.alias()} ORDER BY {q(ORD)} LIMIT {n_sql}", r.cols, True)
        if name == "take":
            n_sql = self.const_int(p["n"], env)
            tail = f" ORDER BY {q(ORD)}" if rel.ordered else ""
            return Rel(f"SELECT * FROM ({rel.sql}) AS {self.alias()}{tail} LIMIT {n_sql}", rel.cols, rel.ordered)
        if name == "distinct":
            if p.get("all_columns"):
                cols = list(rel.cols)
                sels = [q(n) for n, _ in cols]
            else:
                sc = self.scope(rel)
                sels, cols = [], []
                for item in p["items"]:
                    sql, typ = self.expr(item.expr, sc, env)
                    nm = item.names[0] if item.names else self.infer_name(
                        item.expr, self.next_column({c for c, _ in cols}))
                    sels.append(f"{sql} AS {q(nm)}")
                    cols.append((nm, typ))
            return Rel(f"SELECT DISTINCT {', '.join(sels)} FROM ({rel.sql}) AS {self.alias()}", cols)
        if name == "count":
            return Rel(f"SELECT count(*) AS {q('Count')} FROM ({rel.sql}) AS {self.alias()}", [("Count", "long")])
        if name == "summarize":
            return self.summarize(rel, p["aggs"], p["by"], env, op)
        if name in ("join", "lookup"):
            return self.join(rel, op, env)
        if name == "union":
            rel.source_name = rel.source_name or "union_arg0"
            return self.union(p["union"], [rel], env)
        if name == "mv-expand":
            return self.mv_expand(rel, op, env)
        if name == "parse":
            return self.parse_op(rel, op, env)
        if name == "serialize":
            if not rel.ordered:
                rel = self.wrap(rel, [q(n) for n, _ in rel.cols] + [f"row_number() OVER () AS {q(ORD)}"],
                                list(rel.cols))
                rel.ordered = True
            for i, item in enumerate(p["items"]):
                rel = self.extend_one(rel, item, env, i)
            return rel
        if name == "top-nested":
            # one level: the N values of the column with the largest (smallest) aggregate
            col, cname = p["column"]
            self.match_cols(rel, col, cname)
            agg: ast.Assign = p["agg"]
            named = ast.Assign(agg.line, agg.col, (f"aggregated_{col}",), agg.expr)
            by = [ast.Assign(cname.line, cname.col, (col,), cname)]
            summ = self.summarize(rel, [named], by, env, op)
            key = ast.SortKey(op.line, op.col, ast.Name(op.line, op.col, f"aggregated_{col}"), p["desc"], None)
            n_sql = self.const_int(p["n"], env)
            r = self.sort(summ, [key], env)
            return Rel(f"SELECT * FROM ({r.sql}) AS {self.alias()} ORDER BY {q(ORD)} LIMIT {n_sql}", r.cols, True)
        if name == "partition":
            col, cname = p["column"]
            self.match_cols(rel, col, cname)
            inner: ast.Op = p["inner"]
            n_sql = self.const_int(inner.params["n"], env)
            sc = self.scope(rel)
            parts = []
            for k in inner.params.get("keys", []):
                ksql, ktyp = self.expr(k.expr, sc, env)
                parts.extend(self.sort_key(ksql, ktyp, k.desc, k.nulls_first))
            order = f" ORDER BY {', '.join(parts)}" if parts else ""
            sels = [q(n) for n, _ in rel.cols]
            rn = f"row_number() OVER (PARTITION BY {q(col)}{order}) AS __prn"
            a = self.alias()
            # each partition keeps its top/take order (mv-apply's "top 2 by x | make_list(x)" needs it)
            ordsel = f"row_number() OVER (ORDER BY {q(col)}, __prn) AS {q(ORD)}"
            return Rel(f"SELECT {', '.join(sels)}, {ordsel} FROM (SELECT *, {rn} FROM ({rel.sql}) AS {a}) "
                       f"AS {self.alias()} WHERE __prn <= {n_sql}", list(rel.cols), True)
        if name in ("as", "render"):
            return rel
        if name == "search":
            return self.search_op(rel, op, env)
        if name == "mv-apply":
            return self.mv_apply(rel, op, env)
        if name == "bag_unpack":
            return self.bag_unpack(rel, op, env)
        if name == "ipv4_lookup":
            return self.ipv4_lookup(rel, op, env)
        if name == "pivot":
            return self.pivot(rel, op, env)
        if name == "invoke":
            return self.call_tabular_function(p["tok"], p["name"], p["args"], env, rel)
        raise self.unsup(op, f"query operator '{name}' is not supported")

    def extend_one(self, rel: Rel, item: ast.Assign, env: dict[str, Binding], i: int) -> Rel:
        sql, typ = self.expr(item.expr, self.scope(rel), env)
        if len(item.names) > 1:
            raise self.unsup(item, "extend with several names is not supported")
        nm = item.names[0] if item.names else self.infer_name(item.expr, self.next_column({c for c, _ in rel.cols}))
        typ_r = self.real_type(typ)
        value = f"{self.cast_null(sql, typ)} AS {q(nm)}"
        sels, cols, replaced = [], [], False
        for n, t in rel.cols:
            if n == nm:
                sels.append(value)
                cols.append((nm, typ_r))
                replaced = True
            else:
                sels.append(q(n))
                cols.append((n, t))
        if not replaced:
            sels.append(value)
            cols.append((nm, typ_r))
        return self.wrap(rel, sels, cols)

    @staticmethod
    def real_type(typ: str) -> str:
        return "string" if typ == "null" else typ

    @staticmethod
    def cast_null(sql: str, typ: str) -> str:
        return "CAST(NULL AS VARCHAR)" if typ == "null" else sql

    def match_cols(self, rel: Rel, pattern: str, node: ast.Node) -> list[tuple[str, str]]:
        if "*" in pattern:
            return [(n, t) for n, t in rel.cols if fnmatch.fnmatchcase(n, pattern)]
        t = rel.col_type(pattern)
        if t is None:
            raise self.err(node, f"Failed to resolve scalar expression named '{pattern}'")
        return [(pattern, t)]

    @staticmethod
    def next_column(taken: set[str]) -> str:
        """Kusto's name for an unnamed computed column: the first free Column1, Column2..."""
        n = 1
        while f"Column{n}" in taken:
            n += 1
        return f"Column{n}"

    def infer_name(self, e: ast.Expr, default: str) -> str:
        if isinstance(e, ast.Name):
            return e.name.split(".")[-1]
        if isinstance(e, ast.Member):
            base = self.infer_name(e.obj, "")
            return f"{base}_{e.name}" if base else e.name
        if isinstance(e, ast.Index) and isinstance(e.index, ast.Lit):
            base = self.infer_name(e.obj, "")
            return f"{base}_{e.index.value}" if base else default
        if isinstance(e, ast.Call) and e.args and e.name in (
            "tostring", "tolower", "toupper", "bin", "floor", "tolong", "toint", "todouble", "todatetime",
            "startofday", "trim", "parse_json", "todynamic", "tobool", "toreal",
        ):
            return self.infer_name(e.args[0], default)
        return default

    def const_int(self, e: ast.Expr, env: dict[str, Binding]) -> str:
        sql, typ = self.expr(e, Scope(), env)
        if typ not in ("long", "int"):
            raise self.err(e, "expected an integer constant")
        return sql

    @staticmethod
    def sort_key(sql: str, typ: str, desc: bool, nulls_first: bool | None) -> list[str]:
        """ORDER BY terms for one key, as the sort operator page's special-values table orders them.

        Nulls come first for ``asc`` and last for ``desc`` unless stated. A real's NaN goes with the
        nulls (null, NaN when first; NaN, null when last), where DuckDB would rank it above +inf.
        """
        first = (not desc) if nulls_first is None else nulls_first
        term = f"{sql} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if first else 'LAST'}"
        if typ != "real":
            return [term]
        rank = (f"(CASE WHEN {sql} IS NULL THEN 0 WHEN isnan({sql}) THEN 1 ELSE 2 END)" if first else
                f"(CASE WHEN {sql} IS NULL THEN 2 WHEN isnan({sql}) THEN 1 ELSE 0 END)")
        return [rank, term]

    def sort(self, rel: Rel, keys: list[ast.SortKey], env: dict[str, Binding]) -> Rel:
        sc = self.scope(rel)
        parts = []
        for k in keys:
            sql, typ = self.expr(k.expr, sc, env)
            parts.extend(self.sort_key(sql, typ, k.desc, k.nulls_first))
        if rel.ordered:  # a stable sort keeps the previous order among ties
            parts.append(q(ORD))
        sels = [q(n) for n, _ in rel.cols] + [f"row_number() OVER (ORDER BY {', '.join(parts)}) AS {q(ORD)}"]
        return Rel(f"SELECT {', '.join(sels)} FROM ({rel.sql}) AS {self.alias()}", list(rel.cols), True)

"""Multi-table sources: ``search``, ``find`` and ``externaldata``."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from harness.errors import RuleError
from harness.rules.kql import syntax as ast
from harness.rules.kql.joins import JoinsAndExpansions
from harness.rules.kql.schema import table_names
from harness.rules.kql.sqlbase import SQL_TYPES, Binding, Rel, q, s


class SearchSources(JoinsAndExpansions):
    """search/find over several tables, and externaldata read from a local copy."""

    def multi_source(self, node: ast.Node, sources: tuple[ast.Query, ...] | None, pred: ast.Expr,
                     case_sensitive: bool, env: dict[str, Binding]) -> list[Rel]:
        """Each source filtered by ``pred``; a table lacking a column the predicate names is left out
        (find page, "Output schema": such tables are filtered out)."""
        queries = list(sources) if sources is not None else [
            ast.Query(node.line, node.col, ast.TableRef(node.line, node.col, t), ()) for t in table_names()]
        where = ast.Op(node.line, node.col, "where", {"pred": pred})
        kept: list[Rel] = []
        first_error: RuleError | None = None
        saved = self.case_sensitive_search
        self.case_sensitive_search = case_sensitive
        try:
            for qry in queries:
                rel = self.query(qry, env)
                name = rel.source_name
                try:
                    out = self.operator(where, rel, env)
                except RuleError as exc:
                    if "Failed to resolve" not in exc.message:
                        raise
                    first_error = first_error or exc
                    continue
                out.source_name = name
                kept.append(out)
        finally:
            self.case_sensitive_search = saved
        if not kept:
            raise first_error or self.err(node, "no table to search")
        return kept

    def search_source(self, node: ast.Search, env: dict[str, Binding]) -> Rel:
        """search: the rows of every source where the predicate holds, with ``$table`` (search page)."""
        rels = self.multi_source(node, node.sources, node.pred, node.case_sensitive, env)
        return self.union(ast.Union(node.line, node.col, "outer", "$table", False, ()), rels, env)

    def search_op(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        node: ast.Search = op.params["search"]
        where = ast.Op(op.line, op.col, "where", {"pred": node.pred})
        saved = self.case_sensitive_search
        self.case_sensitive_search = node.case_sensitive
        try:
            out = self.operator(where, rel, env)
        finally:
            self.case_sensitive_search = saved
        out.source_name = rel.source_name or ""
        return self.union(ast.Union(op.line, op.col, "outer", "$table", False, ()), [out], env)

    def find_source(self, node: ast.Find, env: dict[str, Binding]) -> Rel:
        """find: ``source_`` and the projected columns, or with project-smart the predicate's and the
        common columns plus the rest packed in ``pack_`` (find page, "Output schema")."""
        rels = self.multi_source(node, node.sources, node.pred, False, env)
        un = self.union(ast.Union(node.line, node.col, "outer", node.withsource, False, ()), rels, env)
        src = node.withsource
        if node.project is not None:
            sels, cols = [q(src)], [(src, "string")]
            for name, typ in node.project:
                have = un.col_type(name)
                if have is None:
                    t = typ or "string"
                    sels.append(("''" if t == "string" else f"CAST(NULL AS {SQL_TYPES[t]})") + f" AS {q(name)}")
                else:
                    t = typ or have
                    sels.append(f"{self.convert(q(name), have, t)} AS {q(name)}")
                cols.append((name, t))
            return self.wrap(un, sels, cols)
        referenced = {n.name for n in _names(node.pred)}
        common = [n for n, _ in rels[0].cols if all(r.col_type(n) is not None for r in rels)]
        keep = [src, *[n for n, _ in un.cols if n != src and (n in referenced or n in common)]]
        rest = [(n, t) for n, t in un.cols if n not in keep]
        sels = [q(n) for n in keep]
        cols = [(n, t) for n, t in un.cols if n in keep]
        if rest:
            pairs = ", ".join(f"'{n}', {self.to_dynamic(q(n), t)}" for n, t in rest)
            sels.append(f"CAST(json_object({pairs}) AS JSON) AS {q('pack_')}")
            cols.append(("pack_", "dynamic"))
        return self.wrap(un, sels, cols)

    def bag_unpack(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        """evaluate bag_unpack(Col[, prefix[, columnsConflict[, ignoredProperties]]]) [: (schema)].

        Without an output schema the new columns are the data's top-level slots, each typed as its
        values are when they agree and dynamic otherwise (bag_unpack page, "Returns"): the engine
        reads the slots from the loaded rows while translating.
        """
        args = op.params["args"]
        if not args or not isinstance(args[0], ast.Name) or rel.col_type(args[0].name) is None:
            raise self.err(op, "bag_unpack() needs a column of its input")
        col = args[0].name
        prefix = self.const_string(args[1], env) if len(args) > 1 else ""
        conflict = (self.const_string(args[2], env) if len(args) > 2 else None) or "error"
        if conflict not in ("error", "replace_source", "keep_source"):
            raise self.err(op, "bag_unpack: columnsConflict must be error, replace_source or keep_source")
        ignored: set[str] = set()
        if len(args) > 3:
            items = self.const_list((args[3],), env) or []
            ignored = {self.const_string(i, env) or "" for i in items}
        bag = self.as_dynamic(q(col), rel.col_type(col) or "dynamic", op)
        keep = [(n, t) for n, t in rel.cols if n != col]
        schema = op.params.get("schema")
        if schema is not None:
            slots = [(n, t) for n, t in schema if n != "*"]
            if not any(n == "*" for n, _ in schema):
                keep = []
        else:
            slots = self.bag_slots(rel, bag, op)
        sels = [q(n) for n, _ in keep]
        cols = list(keep)
        taken = {n for n, _ in keep}
        for key, typ in slots:
            if key in ignored:
                continue
            name = (prefix or "") + key
            if name in taken:
                if conflict == "keep_source":
                    continue
                if conflict != "replace_source":
                    raise self.err(op, f"bag_unpack: the slot '{key}' conflicts with column '{name}'")
            path = "$." + json.dumps(key)
            value = f"{self.convert(f'json_extract({bag}, {s(path)})', 'dynamic', typ)} AS {q(name)}"
            if name in taken:  # replace_source: the slot takes the column's place
                idx = [n for n, _ in cols].index(name)
                sels[idx], cols[idx] = value, (name, typ)
                continue
            sels.append(value)
            cols.append((name, typ))
            taken.add(name)
        return self.wrap(rel, sels, cols)

    def pivot(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        """evaluate pivot(PivotColumn[, count()][, Column1, ...]) [: (schema)] (pivot plugin page).

        One output column per distinct value of PivotColumn, in ascending order, holding count()
        of the rows of each group with that value (0 where there are none, as the page's first
        example shows); the groups are Column1... or by default every other column. Only count()
        is taken as the aggregation: what the others give for an empty cell is not documented.
        """
        args = op.params["args"]
        if not args or not isinstance(args[0], ast.Name) or rel.col_type(args[0].name) is None:
            raise self.err(op, "pivot() needs a column of its input")
        pcol = args[0].name
        rest = list(args[1:])
        if rest and isinstance(rest[0], ast.Call):
            if rest[0].name != "count" or rest[0].args:
                raise self.unsup(rest[0], f"pivot() with the aggregation '{rest[0].name}' is not supported")
            rest = rest[1:]
        for a in rest:
            if not isinstance(a, ast.Name) or rel.col_type(a.name) is None:
                raise self.err(a, "pivot() groups by columns of its input")
        group = ([(a.name, rel.col_type(a.name) or "dynamic") for a in rest if isinstance(a, ast.Name)]
                 or [(n, t) for n, t in rel.cols if n != pcol])
        key = self.to_string(q(pcol), rel.col_type(pcol) or "string")
        schema = op.params.get("schema")
        if self.probe is None:
            raise self.unsup(op, "pivot needs the loaded rows")
        values = [str(v) for (v,) in self.probe(
            f"SELECT DISTINCT {key} FROM ({rel.sql}) AS {self.alias()} ORDER BY 1", set(self.used_tables))]
        if schema is not None:
            # the declared columns, in their order; the page: a schema the data does not match fails
            names = [n for n, _ in schema]
            group = [(n, t) for n, t in schema if n in dict(rel.cols) and n != pcol]
            extra = [v for v in values if v not in names]
            if extra:
                raise self.err(op, f"pivot: the value '{extra[0]}' is not in the output schema")
            values = [n for n, _ in schema if n not in dict(group)]
        sels = [q(n) for n, _ in group]
        cols = list(group)
        for v in values:
            sels.append(f"count(*) FILTER (WHERE {key} = {s(v)}) AS {q(v)}")
            cols.append((v, "long"))
        tail = f" GROUP BY {', '.join(q(n) for n, _ in group)}" if group else ""
        return self.wrap(rel, sels, cols, tail, keep_order=False)

    def bag_slots(self, rel: Rel, bag: str, node: ast.Node) -> list[tuple[str, str]]:
        """The distinct top-level slots of the bags, by name as the page's examples order them, typed."""
        if self.probe is None:
            raise self.unsup(node, "bag_unpack without an output schema needs the loaded rows")
        rows = self.probe(
            f"SELECT k, list(DISTINCT t) FROM (SELECT k, json_type(j, '$.' || to_json(k)::VARCHAR) AS t "
            f"FROM (SELECT unnest(json_keys(b)) AS k, b AS j FROM "
            f"(SELECT {bag} AS b FROM ({rel.sql}) AS {self.alias()}) AS {self.alias()} "
            f"WHERE json_type(b) = 'OBJECT') AS {self.alias()}) AS {self.alias()} GROUP BY k ORDER BY k",
            set(self.used_tables))
        kinds = {"VARCHAR": "string", "BIGINT": "long", "UBIGINT": "long", "DOUBLE": "real", "BOOLEAN": "bool"}
        out = []
        for key, types in rows:
            ts = {kinds.get(t, "dynamic") for t in types if t != "NULL"}
            out.append((str(key), ts.pop() if len(ts) == 1 else "dynamic"))
        return out

    def external_data(self, node: ast.ExternalData) -> Rel:
        """externaldata: a table the engine fills from a local copy of the URL before running."""
        name = f"__ext_{len(self.external) + 1}"
        self.external.append((name, node))
        return Rel(f"SELECT {', '.join(q(n) for n, _ in node.columns)} FROM {q(name)}", list(node.columns),
                   False, "externaldata")


def _names(e: Any) -> list[ast.Name]:
    """The names an expression references."""
    if isinstance(e, ast.Name):
        return [e]
    out: list[ast.Name] = []
    if dataclasses.is_dataclass(e):
        for f in dataclasses.fields(e):
            v = getattr(e, f.name)
            for x in v if isinstance(v, tuple) else (v,):
                if isinstance(x, ast.Node):
                    out.extend(_names(x))
    return out

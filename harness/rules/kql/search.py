"""Multi-table sources: ``search``, ``find`` and ``externaldata``."""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.errors import RuleError
from harness.rules.kql import syntax as ast
from harness.rules.kql.joins import JoinsAndExpansions
from harness.rules.kql.schema import table_names
from harness.rules.kql.sqlbase import SQL_TYPES, Binding, Rel, q


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

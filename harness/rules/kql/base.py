"""The translator's state and error helpers, shared by its operator and expression modules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from harness.errors import RuleError, SourceLocation, UnsupportedError
from harness.rules.kql import syntax as ast
from harness.rules.kql.schema import Flavour
from harness.rules.kql.sqlbase import Binding, Rel, Scope


class TranslatorBase:
    """Per-query state; ``tables`` maps loaded table names to their columns."""

    def __init__(self, path: str, now: datetime, flavour: Flavour,
                 tables: dict[str, list[tuple[str, str]]]) -> None:
        self.path = path
        self.now = now
        self.flavour = flavour
        self.tables = tables
        self.used_tables: set[str] = set()
        # externaldata sources: (temp table name, node); the engine fills them before running
        self.external: list[tuple[str, ast.ExternalData]] = []
        self.case_sensitive_search = False
        # runs SQL over the loaded tables during translation: bag_unpack's columns depend on the data
        self.probe: Callable[[str, set[str]], list[tuple[Any, ...]]] | None = None
        # False when the SQL depends on more than the query and the tables' columns (a datetime
        # literal relative to `now`): the engine then translates it again for every run
        self.reusable = True
        self._n = 0

    def now_sql(self) -> str:
        """now() in SQL: the engine's session variable, so one translation serves every `now`."""
        return "CAST(getvariable('kql_now') AS TIMESTAMP)"

    # helpers
    def loc(self, node: ast.Node) -> SourceLocation:
        return SourceLocation(self.path, node.line, node.col)

    def err(self, node: ast.Node, msg: str) -> RuleError:
        return RuleError(msg, self.loc(node))

    def unsup(self, node: ast.Node, msg: str) -> UnsupportedError:
        return UnsupportedError(msg, self.loc(node))

    def alias(self) -> str:
        self._n += 1
        return f"_t{self._n}"

    # The layers (scalar -> predicates -> tabular -> operators -> summarize -> joins) call each other
    # both ways (toscalar() runs a query, a query evaluates expressions): the later layers' entry
    # points are declared here and implemented there.
    def query(self, qry: ast.Query, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def table(self, ref: ast.TableRef, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def bind_let(self, let: ast.Let, env: dict[str, Binding]) -> dict[str, Binding]:
        raise NotImplementedError

    def operator(self, op: ast.Op, rel: Rel, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def summarize(self, rel: Rel, aggs: list[ast.Assign], by: list[ast.Assign], env: dict[str, Binding],
                  op: ast.Op) -> Rel:
        raise NotImplementedError

    def join(self, left: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def mv_expand(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def parse_op(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def call(self, e: ast.Call, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        raise NotImplementedError

    def in_list(self, e: ast.InList, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        raise NotImplementedError

    def user_scalar_call(self, node: ast.Node, name: str, args: list[ast.Expr], sc: Scope,
                         env: dict[str, Binding]) -> tuple[str, str]:
        raise NotImplementedError

    def string_op(self, e: ast.Bin, a: str, at: str, sc: Scope, env: dict[str, Binding]) -> tuple[str, str]:
        raise NotImplementedError

    def to_string(self, sql: str, t: str) -> str:
        raise NotImplementedError

    def string_test(self, base: str, hay: str, needle: str, const: str | None) -> str:
        raise NotImplementedError

    def source(self, src: ast.Source, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def search_source(self, node: ast.Search, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def find_source(self, node: ast.Find, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def external_data(self, node: ast.ExternalData) -> Rel:
        raise NotImplementedError

    def search_op(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def mv_apply(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def bag_unpack(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def ipv4_lookup(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def pivot(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        raise NotImplementedError

    def const_string(self, e: ast.Expr, env: dict[str, Binding]) -> str | None:
        raise NotImplementedError

    def const_list(self, items: tuple[ast.Expr, ...], env: dict[str, Binding]) -> list[ast.Expr] | None:
        raise NotImplementedError

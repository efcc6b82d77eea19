"""KQL parser: statements (let, functions), query sources and union."""

from __future__ import annotations

from typing import Any

from harness.rules.kql.nodes import (
    SCALAR_TYPES,
    Datatable,
    Expr,
    ExternalData,
    Find,
    FuncSource,
    FunctionDef,
    Let,
    Op,
    Param,
    Print,
    Query,
    Range,
    Script,
    Search,
    TableRef,
    Union,
)
from harness.rules.kql.parse_expr import ExprParser
from harness.rules.kql.tokens import Token


class StatementParser(ExprParser):
    """Scripts, let statements, function definitions and the sources of a query."""

    # script
    def parse_script(self) -> Script:
        start = self.tok
        lets: list[Let] = []
        query: Query | None = None
        while self.tok.kind != "eof":
            if self.is_op(";"):
                self.next()
                continue
            if self.is_word("let"):
                lets.append(self.parse_let())
                if not self.is_op(";") and self.tok.kind != "eof":
                    raise self.error("expected ';' after let statement")
                continue
            if self.is_word("set", "declare", "alias", "pattern", "restrict"):
                raise self.unsupported(f"'{self.tok.text}' statement is not supported")
            if query is not None:
                raise self.error("only one tabular expression statement is supported")
            query = self.parse_query()
            if not self.is_op(";") and self.tok.kind != "eof":
                raise self.error(f"unexpected {self.tok.text!r}")
        return Script(start.line, start.col, tuple(lets), query)

    def parse_let(self) -> Let:
        t = self.expect_word("let")
        name = self.ident()
        self.expect_op("=")
        # function / view definition: let f = (a:string, T:(*)) { ... }  or view () { ... }
        if self.is_word("view") and self.peek().text == "(":
            self.next()
        if self.is_op("(") and self._looks_like_params():
            fd = self.parse_function_def()
            return Let(t.line, t.col, name, fd)
        if self._starts_tabular():
            return Let(t.line, t.col, name, self.parse_query())
        e = self.parse_expr()
        if self.is_op("|"):
            # an expression that is actually a tabular source (e.g. a function call) piped further
            raise self.unsupported("piping a scalar-looking expression is not supported")
        return Let(t.line, t.col, name, e)

    def _looks_like_params(self) -> bool:
        # "(" ")" "{"  or "(" ident ":" ...
        j = self.pos + 1
        if self.toks[j].text == ")":
            return self.toks[j + 1].text == "{"
        return self.toks[j].kind == "ident" and self.toks[j + 1].text == ":"

    def parse_function_def(self) -> FunctionDef:
        t = self.expect_op("(")
        params: list[Param] = []
        while not self.is_op(")"):
            pt = self.tok
            pname = self.ident()
            self.expect_op(":")
            if self.is_op("("):
                depth = 0
                while True:
                    if self.is_op("("):
                        depth += 1
                    elif self.is_op(")"):
                        depth -= 1
                    self.next()
                    if depth == 0:
                        break
                ptype = "tabular"
            else:
                ptype = SCALAR_TYPES.get(self.ident().lower(), "dynamic")
            default = None
            if self.is_op("="):
                self.next()
                default = self.parse_expr()
            params.append(Param(pt.line, pt.col, pname, ptype, default))
            if self.is_op(","):
                self.next()
        self.expect_op(")")
        self.expect_op("{")
        lets: list[Let] = []
        result: Query | Expr | None = None
        while not self.is_op("}"):
            if self.is_op(";"):
                self.next()
                continue
            if self.is_word("let"):
                lets.append(self.parse_let())
                continue
            result = self.parse_query() if self._starts_tabular() else self.parse_expr()
            if self.is_op("|") and not isinstance(result, Query):
                raise self.unsupported("piping a scalar-looking expression is not supported")
        self.expect_op("}")
        if result is None:
            raise self.error("function body has no result expression", t)
        return FunctionDef(t.line, t.col, tuple(params), tuple(lets), result)

    def _starts_tabular(self, bare_name: bool = True) -> bool:
        t = self.tok
        if t.kind == "ident":
            w = t.text
            if (w in ("datatable", "range", "print", "union") and w != "range") or (w == "range" and (
                self.peek().kind == "ident"
            )):
                return True
            if w == "materialize" or (w == "externaldata" and self.peek().text == "("):
                return True
            if w in ("search", "find") and self.peek().kind in ("string", "ident"):
                return True
            nxt = self.peek()
            if nxt.text == "|":
                return True
            # bare table name followed by ';' or end: decided by the caller's context
            if bare_name and ((nxt.kind == "op" and nxt.text in (";", ")", "}")) or nxt.kind == "eof"):
                return w[0].isupper() and w not in ("True", "False") and w not in SCALAR_TYPES
            if nxt.text == "(":
                # function call followed by a pipe => tabular
                depth = 0
                j = self.pos + 1
                while j < len(self.toks):
                    tt = self.toks[j]
                    if tt.text == "(":
                        depth += 1
                    elif tt.text == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                after = self.toks[min(j + 1, len(self.toks) - 1)]
                return after.text == "|"
            return False
        if t.text == "(":
            # (T | where ...) or (union ...), or (T) | where ..., or (range x from ...)
            inner = self.peek()
            if inner.kind == "ident" and (inner.text in ("datatable", "print", "union", "externaldata")
                                          or (inner.text == "range" and self.peek(2).kind == "ident")):
                return True
            j = self.pos + 1
            depth = 1
            while j < len(self.toks) and depth:
                tt = self.toks[j]
                if tt.text in ("(", "[", "{"):
                    depth += 1
                elif tt.text in (")", "]", "}"):
                    depth -= 1
                elif tt.text == "|" and depth == 1:
                    return True
                j += 1
            return j < len(self.toks) and self.toks[j].text == "|" and self.toks[j].kind == "op"
        return False

    # tabular
    def parse_query(self) -> Query:
        t = self.tok
        source = self.parse_source()
        ops: list[Op] = []
        while self.is_op("|"):
            self.next()
            ops.append(self.parse_operator())
        return Query(t.line, t.col, source, tuple(ops))

    def parse_source(self) -> Any:
        t = self.tok
        if self.is_op("("):
            self.next()
            q = self.parse_query()
            self.expect_op(")")
            return q
        if self.is_word("union"):
            self.next()
            return self.parse_union_body(t)
        if self.is_word("datatable"):
            return self.parse_datatable()
        if self.is_word("print"):
            self.next()
            return Print(t.line, t.col, tuple(self.parse_assign_list()))
        if self.is_word("range"):
            self.next()
            col = self.ident()
            self.expect_word("from")
            a = self.parse_expr()
            self.expect_word("to")
            b = self.parse_expr()
            self.expect_word("step")
            s = self.parse_expr()
            return Range(t.line, t.col, col, a, b, s)
        if self.is_word("materialize") and self.peek().text == "(":
            self.next()
            self.next()
            q = self.parse_query()
            self.expect_op(")")
            return q
        if self.is_word("externaldata") and self.peek().text == "(":
            return self.parse_externaldata(t)
        if self.is_word("search"):
            self.next()
            return self.parse_search_body(t, piped=False)
        if self.is_word("find"):
            self.next()
            return self.parse_find(t)
        if self.is_word("evaluate"):
            raise self.unsupported(f"'{t.text}' is not supported as a query source")
        if self.tok.kind == "ident" or self.is_op("["):
            name = self.ident()
            if self.is_op("("):
                self.next()
                args = self.parse_args(")")
                return FuncSource(t.line, t.col, name, tuple(args))
            return TableRef(t.line, t.col, name)
        raise self.error(f"expected a table, found {t.text or 'end of query'!r}")

    def parse_table_list(self) -> tuple[Query, ...]:
        """``(T1, (T2 | where ...), ...)`` of search/find."""
        self.expect_op("(")
        out: list[Query] = []
        while not self.is_op(")"):
            st = self.tok
            if self.is_op("("):
                self.next()
                out.append(self.parse_query())
                self.expect_op(")")
            else:
                name = self.ident()
                if self.is_op("*"):
                    raise self.unsupported("wildcard table names are not supported", st)
                out.append(Query(st.line, st.col, TableRef(st.line, st.col, name), ()))
            if self.is_op(","):
                self.next()
        self.next()
        return tuple(out)

    def parse_externaldata(self, t: Token) -> ExternalData:
        """``externaldata (col:type, ...) [url, ...] [with (format=..., ...)]`` (externaldata page)."""
        self.next()
        self.expect_op("(")
        cols: list[tuple[str, str]] = []
        while not self.is_op(")"):
            cname = self.ident()
            self.expect_op(":")
            cols.append((cname, SCALAR_TYPES.get(self.ident().lower(), "string")))
            if self.is_op(","):
                self.next()
        self.next()
        self.expect_op("[")
        urls: list[str] = []
        while not self.is_op("]"):
            if self.tok.kind != "string":
                raise self.error(f"expected a URL string, found {self.tok.text or 'end of query'!r}")
            urls.append(self.next().value)
            if self.is_op(","):
                self.next()
        self.next()
        props: dict[str, str] = {}
        if self.is_word("with") and self.peek().text == "(":
            self.next()
            self.next()
            while not self.is_op(")"):
                key = self.ident()
                self.expect_op("=")
                v = self.next()
                props[key.lower()] = str(v.value if v.kind == "string" else v.text)
                if self.is_op(","):
                    self.next()
            self.next()
        return ExternalData(t.line, t.col, tuple(cols), tuple(urls), props)

    def parse_search_body(self, t: Token, piped: bool) -> Search:
        case_sensitive = False
        if self.is_word("kind") and self.peek().text == "=":
            self.next()
            self.next()
            case_sensitive = self.ident().lower() == "case_sensitive"
        sources = None
        if not piped and self.is_word("in") and self.peek().text == "(":
            self.next()
            sources = self.parse_table_list()
        return Search(t.line, t.col, case_sensitive, sources, self.parse_search_pred())

    def parse_search_pred(self) -> Expr:
        """A where-predicate in which a bare string is a term over every column and ``Col:"x"`` is has."""
        self._search_terms = True
        try:
            return self.parse_expr()
        finally:
            self._search_terms = False

    def parse_find(self, t: Token) -> Find:
        withsource = "source_"
        if self.is_word("withsource") and self.peek().text == "=":
            self.next()
            self.next()
            withsource = self.ident()
        sources = None
        if self.is_word("in") and self.peek().text == "(":
            self.next()
            sources = self.parse_table_list()
        if self.is_word("where"):
            self.next()
        pred = self.parse_search_pred()
        project: tuple[tuple[str, str | None], ...] | None = None
        if self.is_word("project-smart"):
            self.next()
        elif self.is_word("project"):
            self.next()
            cols: list[tuple[str, str | None]] = []
            while True:
                if self.is_word("pack_all") and self.peek().text == "(":
                    raise self.unsupported("find ... project pack_all() is not supported")
                name = self.ident()
                typ = None
                if self.is_op(":"):
                    self.next()
                    typ = SCALAR_TYPES.get(self.ident().lower(), "string")
                cols.append((name, typ))
                if not self.is_op(","):
                    break
                self.next()
            project = tuple(cols)
        return Find(t.line, t.col, withsource, sources, pred, project)

    def parse_union_body(self, t: Token) -> Union:
        kind = "outer"
        withsource = None
        isfuzzy = False
        while self.tok.kind == "ident" and self.peek().text == "=" and self.tok.text in (
            "kind", "withsource", "isfuzzy"
        ):
            key = self.next().text
            self.next()
            val = self.next().text
            if key == "kind":
                kind = val
            elif key == "withsource":
                withsource = val
            else:
                isfuzzy = val.lower() == "true"
        sources: list[Query] = []
        while True:
            st = self.tok
            if self.is_op("("):
                self.next()
                sources.append(self.parse_query())
                self.expect_op(")")
            else:
                name = self.ident()
                if "*" in name or self.is_op("*"):
                    raise self.unsupported("wildcard table names in union are not supported", st)
                if self.is_op("("):
                    self.next()
                    args = self.parse_args(")")
                    sources.append(Query(st.line, st.col, FuncSource(st.line, st.col, name, tuple(args)), ()))
                else:
                    sources.append(Query(st.line, st.col, TableRef(st.line, st.col, name), ()))
            if self.is_op(","):
                self.next()
                continue
            break
        return Union(t.line, t.col, kind, withsource, isfuzzy, tuple(sources))

    def parse_datatable(self) -> Datatable:
        t = self.expect_word("datatable")
        self.expect_op("(")
        cols: list[tuple[str, str]] = []
        while not self.is_op(")"):
            cname = self.ident()
            self.expect_op(":")
            ctype = self.ident().lower()
            if ctype not in SCALAR_TYPES:
                raise self.error(f"unknown type {ctype!r}")
            cols.append((cname, SCALAR_TYPES[ctype]))
            if self.is_op(","):
                self.next()
        self.expect_op(")")
        self.expect_op("[")
        values = self.parse_args("]")
        return Datatable(t.line, t.col, tuple(cols), tuple(values))

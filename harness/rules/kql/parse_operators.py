"""KQL parser: the tabular operators after a pipe."""

from __future__ import annotations

import re

from harness.rules.kql.nodes import (
    _PLAIN_OPS,
    SCALAR_TYPES,
    Assign,
    Expr,
    Lit,
    Name,
    Op,
    OpParams,
    ParsePart,
    Query,
    SortKey,
    TableRef,
    TabularArg,
)
from harness.rules.kql.parse_statements import StatementParser
from harness.rules.kql.tokens import Token


class ExpandParser(StatementParser):
    """mv-expand and mv-apply: the operators that turn array elements into rows."""

    def parse_mv_apply(self, t: Token) -> Op:
        """``mv-apply [with_itemindex=I] [N =] arr [to typeof(T)], ... [limit L] on (subquery)``."""
        params = self.parse_mv_expand(t).params
        self.expect_word("on")
        self.expect_op("(")
        ops = [self.parse_operator()]
        while self.is_op("|"):
            self.next()
            ops.append(self.parse_operator())
        self.expect_op(")")
        params["subquery"] = tuple(ops)
        return Op(t.line, t.col, "mv-apply", params)

    def parse_mv_expand(self, t: Token) -> Op:
        params = OpParams(bagexpansion="bag", limit=None, expand=[])
        while self.tok.kind == "ident" and self.peek().text == "=" and self.tok.text in (
            "bagexpansion", "kind", "with_itemindex"
        ):
            key = self.next().text
            self.next()
            if key == "with_itemindex":
                params["with_itemindex"] = self.next().text
            else:  # kind= is the documented name, bagexpansion= the legacy one (mv-expand page, "Syntax")
                params["bagexpansion"] = self.next().text.lower()
        items: list[tuple[Assign, str | None]] = []
        while True:
            a = self.parse_assign()
            totype = None
            if self.is_word("to"):
                self.next()
                self.expect_word("typeof")
                self.expect_op("(")
                totype = SCALAR_TYPES.get(self.ident().lower(), "dynamic")
                self.expect_op(")")
            items.append((a, totype))
            if self.is_op(","):
                self.next()
                continue
            break
        if self.is_word("limit"):
            self.next()
            params["limit"] = self.parse_expr()
        if self.is_word("with_itemindex") and self.peek().text == "=":
            self.next()
            self.next()
            params["with_itemindex"] = self.ident()
        params["expand"] = items
        return Op(t.line, t.col, "mv-expand", params)


class OperatorParser(ExpandParser):
    """Operator arguments and the operators themselves."""

    def parse_args(self, close: str) -> list[Expr]:
        args: list[Expr] = []
        while not self.is_op(close):
            if close == ")" and self._starts_tabular(bare_name=False):
                q = self.parse_query()
                args.append(TabularArg(q.line, q.col, q))
            else:
                args.append(self.parse_expr())
            if self.is_op(","):
                self.next()
            elif not self.is_op(close):
                raise self.error(f"expected ',' or {close!r}, found {self.tok.text or 'end of query'!r}")
        self.next()
        return args

    def parse_assign_list(self, allow_star: bool = False) -> list[Assign]:
        items: list[Assign] = []
        while True:
            items.append(self.parse_assign())
            if self.is_op(","):
                self.next()
                continue
            return items

    def parse_assign(self) -> Assign:
        t = self.tok
        # (a, b) = expr
        if self.is_op("(") and self.peek().kind == "ident" and self.peek(2).text in (",", ")"):
            save = self.pos
            self.next()
            names = [self.ident()]
            while self.is_op(","):
                self.next()
                names.append(self.ident())
            if self.is_op(")") and self.peek().text == "=":
                self.next()
                self.next()
                return Assign(t.line, t.col, tuple(names), self.parse_expr())
            self.pos = save
        if (self.tok.kind == "ident" or self.is_op("[")) and self._name_then_eq():
            name = self.ident()
            self.expect_op("=")
            return Assign(t.line, t.col, (name,), self.parse_expr())
        return Assign(t.line, t.col, (), self.parse_expr())

    def _name_then_eq(self) -> bool:
        if self.is_op("["):
            return self.peek(3).text == "=" and self.peek(3).kind == "op"
        nxt = self.peek()
        return nxt.kind == "op" and nxt.text == "="

    def parse_name_list(self) -> list[tuple[str, Token]]:
        names: list[tuple[str, Token]] = []
        while True:
            t = self.tok
            name = self.ident()
            while self.is_op("*"):  # wildcard patterns like Initiating*
                self.next()
                name += "*"
                if self.tok.kind == "ident" and self.tok.col == t.col + len(name):
                    name += self.next().text
            names.append((name, t))
            if self.is_op(","):
                self.next()
                continue
            return names

    def parse_operator(self) -> Op:
        t = self.tok
        if t.kind != "ident":
            raise self.error(f"expected a query operator, found {t.text or 'end of query'!r}")
        name = self.next().text
        # hyphenated operator names: project-away, mv-expand, ...
        while self.is_op("-") and self.peek().kind == "ident" and self.peek().col == self.tok.col + 1:
            self.next()
            name += "-" + self.next().text
        lname = name.lower() if name.lower() in _PLAIN_OPS else name
        ln, cl = t.line, t.col
        if lname in ("where", "filter"):
            return Op(ln, cl, "where", {"pred": self.parse_expr()})
        if lname == "extend":
            return Op(ln, cl, "extend", {"items": self.parse_assign_list()})
        if lname == "project":
            return Op(ln, cl, "project", {"items": self.parse_assign_list()})
        if lname in ("project-away", "project-keep"):
            return Op(ln, cl, lname, {"names": self.parse_name_list()})
        if lname == "project-reorder":
            names = self.parse_name_list()
            if self.is_word("asc", "desc", "granny"):
                raise self.unsupported("project-reorder with a sort order is not supported")
            return Op(ln, cl, lname, {"names": names})
        if lname == "project-rename":
            pairs: list[tuple[str, str, Token]] = []
            while True:
                pt = self.tok
                new = self.ident()
                self.expect_op("=")
                old = self.ident()
                pairs.append((new, old, pt))
                if self.is_op(","):
                    self.next()
                    continue
                break
            return Op(ln, cl, lname, {"pairs": pairs})
        if lname in ("sort", "order"):
            self.expect_word("by")
            return Op(ln, cl, "sort", {"keys": self.parse_sort_keys()})
        if lname == "top":
            n = self.parse_expr()
            self.expect_word("by")
            return Op(ln, cl, "top", {"n": n, "keys": self.parse_sort_keys()})
        if lname in ("take", "limit"):
            return Op(ln, cl, "take", {"n": self.parse_expr()})
        if lname == "sample":
            return Op(ln, cl, "take", {"n": self.parse_expr()})
        if lname == "distinct":
            if self.is_op("*"):
                self.next()
                return Op(ln, cl, "distinct", {"items": [], "all_columns": True})
            return Op(ln, cl, "distinct", {"items": self.parse_assign_list()})
        if lname == "count":
            return Op(ln, cl, "count", {})
        if lname == "serialize":
            items = self.parse_assign_list() if self.tok.kind == "ident" or self.is_op("[") else []
            return Op(ln, cl, "serialize", {"items": items})
        if lname == "summarize":
            return self.parse_summarize(t)
        if lname in ("join", "lookup"):
            return self.parse_join(t, lname)
        if lname == "union":
            u = self.parse_union_body(t)
            return Op(ln, cl, "union", {"union": u})
        if lname in ("mv-expand", "mvexpand"):
            return self.parse_mv_expand(t)
        if lname == "parse":
            return self.parse_parse(t)
        if lname == "as":
            while self.tok.kind == "ident" and self.peek().text == "=":
                self.next()
                self.next()
                self.next()
            return Op(ln, cl, "as", {"name": self.ident()})
        if lname == "invoke":
            ft = self.tok
            fname = self.ident()
            self.expect_op("(")
            args = self.parse_args(")")
            return Op(ln, cl, "invoke", {"name": fname, "args": args, "tok": Name(ft.line, ft.col, fname)})
        if lname == "render":
            # render only changes presentation: the rows are those of its input. Its property list
            # ``with (title="...", ...)`` has parentheses of its own (render page, "Syntax").
            depth = 0
            while self.tok.kind != "eof" and not (depth == 0 and self.is_op("|", ";", ")", "}")):
                if self.is_op("(", "["):
                    depth += 1
                elif self.is_op(")", "]"):
                    depth -= 1
                self.next()
            return Op(ln, cl, "render", {})
        if lname == "evaluate" and self.is_word("bag_unpack", "ipv4_lookup", "pivot") and self.peek().text == "(":
            op_t = self.tok
            plugin = self.tok.text.lower()
            self.next()
            self.next()
            pargs: list[Expr] = []
            named: dict[str, Expr] = {}
            while not self.is_op(")"):
                if self.tok.kind == "ident" and self.peek().text == "=" and self.peek().kind == "op":
                    key = self.ident()
                    self.next()
                    named[key.lower()] = self.parse_expr()
                else:
                    pargs.append(self.parse_expr())
                if self.is_op(","):
                    self.next()
            self.next()
            for k, key in ((1, "outputcolumnprefix"), (2, "columnsconflict"), (3, "ignoredproperties")):
                if key in named and plugin == "bag_unpack":
                    while len(pargs) <= k:
                        pargs.append(Lit(op_t.line, op_t.col, "", "string"))
                    pargs[k] = named[key]
            schema: list[tuple[str, str]] | None = None
            if self.is_op(":") and self.peek().text == "(":
                self.next()
                self.next()
                schema = []
                while not self.is_op(")"):
                    if self.is_op("*"):
                        self.next()
                        schema.append(("*", "*"))
                    else:
                        cname = self.ident()
                        self.expect_op(":")
                        schema.append((cname, SCALAR_TYPES.get(self.ident().lower(), "dynamic")))
                    if self.is_op(","):
                        self.next()
                self.next()
            return Op(ln, cl, plugin, {"args": pargs, "named": named, "schema": schema})
        if lname == "mv-apply":
            return self.parse_mv_apply(t)
        if lname == "search":
            return Op(ln, cl, "search", {"search": self.parse_search_body(t, piped=True)})
        if lname == "top-nested":
            return self.parse_top_nested(t)
        if lname == "partition":
            return self.parse_partition(t)
        raise self.unsupported(f"query operator '{name}' is not supported", t)

    def parse_top_nested(self, t: Token) -> Op:
        """``top-nested N of Col by Aggregation [asc|desc]`` (one level; more levels are unsupported)."""
        n = self.parse_expr()
        self.expect_word("of")
        ct = self.tok
        col = self.ident()
        if self.is_op("="):
            raise self.unsupported("top-nested with a computed column is not supported", ct)
        if self.is_word("with"):
            raise self.unsupported("top-nested with others is not supported")
        self.expect_word("by")
        agg = self.parse_assign()
        desc = True
        if self.is_word("asc", "desc"):
            desc = self.next().text.lower() == "desc"
        if self.is_op(","):
            raise self.unsupported("top-nested with several levels is not supported")
        return Op(t.line, t.col, "top-nested", {"n": n, "column": (col, Name(ct.line, ct.col, col)), "agg": agg,
                                                "desc": desc})

    def parse_partition(self, t: Token) -> Op:
        """``partition by Col ( top N by ... | take N )``: other subqueries are unsupported."""
        while self.tok.kind == "ident" and self.peek().text in ("=", "."):
            raise self.unsupported("partition hints are not supported")
        self.expect_word("by")
        ct = self.tok
        col = self.ident()
        self.expect_op("(")
        inner = self.parse_operator()
        if not self.is_op(")"):
            raise self.unsupported("partition subqueries other than one top/take are not supported")
        self.next()
        if inner.name not in ("top", "take"):
            raise self.unsupported(f"partition over '{inner.name}' is not supported", t)
        return Op(t.line, t.col, "partition", {"column": (col, Name(ct.line, ct.col, col)), "inner": inner})

    def parse_sort_keys(self) -> list[SortKey]:
        keys: list[SortKey] = []
        while True:
            t = self.tok
            e = self.parse_expr()
            desc = True
            nulls: bool | None = None
            if self.is_word("asc", "desc"):
                desc = self.next().text.lower() == "desc"
            if self.is_word("nulls"):
                self.next()
                nulls = self.next().text.lower() == "first"
            keys.append(SortKey(t.line, t.col, e, desc, nulls))
            if self.is_op(","):
                self.next()
                continue
            return keys

    def parse_summarize(self, t: Token) -> Op:
        while self.tok.kind == "ident" and self.peek().text == "=" and self.tok.text.lower() in (
            "hint.strategy", "hint", "hint.shufflekey", "hint.num_partitions"
        ):
            self.next()
            self.next()
            self.next()
        # "hint.strategy=shuffle" tokenizes as hint . strategy = shuffle
        while self.is_word("hint") and self.peek().text == ".":
            for _ in range(5):
                self.next()
        aggs: list[Assign] = []
        if not self.is_word("by"):
            aggs = self.parse_assign_list()
        by: list[Assign] = []
        if self.is_word("by"):
            self.next()
            by = self.parse_assign_list()
        return Op(t.line, t.col, "summarize", {"aggs": aggs, "by": by})

    def parse_join(self, t: Token, opname: str) -> Op:
        kind = "innerunique" if opname == "join" else "leftouter"
        while self.tok.kind == "ident" and (self.peek().text == "=" or self.peek().text == "."):
            if self.is_word("kind"):
                self.next()
                self.next()
                kind = self.next().text.lower()
            elif self.is_word("hint"):
                self.next()
                while not self.is_op("="):
                    self.next()
                self.next()
                self.next()
            else:
                break
        if self.is_op("("):
            self.next()
            right = self.parse_query()
            self.expect_op(")")
        else:
            st = self.tok
            name = self.ident()
            right = Query(st.line, st.col, TableRef(st.line, st.col, name), ())
        self.expect_word("on")
        conds: list[Expr] = []
        while True:
            conds.append(self.parse_expr())
            if self.is_op(","):
                self.next()
                continue
            break
        return Op(t.line, t.col, opname, {"kind": kind, "right": right, "on": conds})

    def parse_parse(self, t: Token) -> Op:
        kind = "simple"
        if self.is_word("kind") and self.peek().text == "=":
            self.next()
            self.next()
            kind = self.next().text.lower()
        flags = ""
        if self.is_word("flags") and self.peek().text == "=":
            self.next()
            self.next()
            flags = self.next().text
            if not re.fullmatch(r"[imsU]+", flags):
                raise self.unsupported(f"parse flags {flags!r} are not supported")
        src = self.parse_expr()
        self.expect_word("with")
        parts: list[ParsePart] = []
        while True:
            if self.tok.kind == "string":
                parts.append(("lit", self.next().value))
            elif self.is_op("*"):
                self.next()
                parts.append(("star", None))
            elif self.tok.kind == "ident" or self.is_op("["):
                pt = self.tok
                name = self.ident()
                ctype = "string"
                if self.is_op(":"):
                    self.next()
                    ctype = SCALAR_TYPES.get(self.ident().lower(), "string")
                parts.append(("col", (name, ctype, pt)))
            else:
                break
            if self.is_op(","):
                # the comma separating parse patterns is optional
                self.next()
        return Op(t.line, t.col, "parse", {"kind": kind, "src": src, "parts": parts, "flags": flags})

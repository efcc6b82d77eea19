"""KQL parser, lowest layer: token helpers and scalar expressions (literals included)."""

from __future__ import annotations

import re
from typing import Any

from harness.errors import RuleError, SourceLocation, UnsupportedError
from harness.rules.kql.nodes import (
    _LIST_OPS,
    SCALAR_TYPES,
    AnyColumn,
    Assign,
    Between,
    Bin,
    Call,
    Expr,
    FuncSource,
    Index,
    InList,
    Lit,
    Member,
    Name,
    Op,
    Query,
    Star,
    ToScalar,
    Unary,
)
from harness.rules.kql.tokens import Token, tokenize


class ParserBase:
    """Token access and errors; the tabular layer's entry points used by expressions."""

    def __init__(self, text: str, path: str = "<query>") -> None:
        self.path = path
        self.toks = tokenize(text, path)
        self.pos = 0

    # token helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def peek(self, k: int = 1) -> Token:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def next(self) -> Token:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def error(self, msg: str, t: Token | None = None) -> RuleError:
        t = t or self.tok
        return RuleError(msg, SourceLocation(self.path, t.line, t.col))

    def unsupported(self, msg: str, t: Token | None = None) -> UnsupportedError:
        t = t or self.tok
        return UnsupportedError(msg, SourceLocation(self.path, t.line, t.col))

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() in words

    def expect_op(self, op: str) -> Token:
        if not self.is_op(op):
            raise self.error(f"expected {op!r}, found {self.tok.text or 'end of query'!r}")
        return self.next()

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.error(f"expected {word!r}, found {self.tok.text or 'end of query'!r}")
        return self.next()

    def ident(self) -> str:
        """An identifier, or a bracketed/quoted name (``['Col name']``)."""
        if self.is_op("[") and self.peek().kind == "string":
            self.next()
            name: str = self.next().value
            self.expect_op("]")
            return name
        if self.tok.kind == "ident":
            return self.next().text
        if self.is_op("$") and self.peek().kind == "ident":  # $table, search's source column
            self.next()
            return "$" + self.next().text
        raise self.error(f"expected a name, found {self.tok.text or 'end of query'!r}")

    # implemented by the statement and operator layers (a call's arguments may be tabular)
    def parse_query(self) -> Query:
        raise NotImplementedError

    def parse_args(self, close: str) -> list[Expr]:
        raise NotImplementedError

    def _starts_tabular(self, bare_name: bool = True) -> bool:
        raise NotImplementedError

    def parse_operator(self) -> Op:
        raise NotImplementedError

    def parse_assign_list(self, allow_star: bool = False) -> list[Assign]:
        raise NotImplementedError

    def parse_assign(self) -> Assign:
        raise NotImplementedError


class ExprParser(ParserBase):
    """Scalar expressions, lowest precedence first."""

    _search_terms = False  # inside a search/find predicate, where a bare string is a term

    @staticmethod
    def search_term(t: Token, text: str) -> Expr:
        inner = text.strip("*")
        if "*" in inner:
            pattern = r"\b" + ".*".join(re.escape(p) for p in inner.split("*")) + r"\b"
            return AnyColumn(t.line, t.col, "matches regex", pattern)
        op = {(False, False): "has", (False, True): "hasprefix", (True, False): "hassuffix",
              (True, True): "contains"}[(text.startswith("*"), text.endswith("*") and len(text) > 1)]
        return AnyColumn(t.line, t.col, op, inner)

    # scalar expressions, lowest precedence first
    def parse_expr(self) -> Expr:
        return self.parse_or()

    def parse_or(self) -> Expr:
        left = self.parse_and()
        while self.is_word("or"):
            t = self.next()
            left = Bin(t.line, t.col, "or", left, self.parse_and())
        return left

    def parse_and(self) -> Expr:
        left = self.parse_cmp()
        while self.is_word("and"):
            t = self.next()
            left = Bin(t.line, t.col, "and", left, self.parse_cmp())
        return left

    def parse_cmp(self) -> Expr:
        left = self.parse_add()
        while True:
            t = self.tok
            if t.kind == "op" and t.text in ("==", "!=", "<>", "=~", "!~", "<", "<=", ">", ">="):
                self.next()
                op = "!=" if t.text == "<>" else t.text
                left = Bin(t.line, t.col, op, left, self._operand())
                continue
            word = self._string_op_word()
            if word is None:
                return left
            if word in ("between", "!between"):
                self.expect_op("(")
                low = self._operand()
                self.expect_op("..")
                high = self._operand()
                self.expect_op(")")
                left = Between(t.line, t.col, word == "!between", left, low, high)
                continue
            if word in _LIST_OPS:
                self.expect_op("(")
                items = self._operands()
                left = InList(t.line, t.col, word, left, tuple(items))
                continue
            if word == "matches":
                self.expect_word("regex")
                left = Bin(t.line, t.col, "matches regex", left, self._operand())
                continue
            left = Bin(t.line, t.col, word, left, self._operand())

    def _operand(self) -> Expr:
        """A comparison's right side: a string there is a value, not a search term."""
        saved, self._search_terms = self._search_terms, False
        try:
            return self.parse_add()
        finally:
            self._search_terms = saved

    def _operands(self) -> list[Expr]:
        saved, self._search_terms = self._search_terms, False
        try:
            return self.parse_args(")")
        finally:
            self._search_terms = saved

    _WORD_OPS = (
        "has", "has_cs", "contains", "contains_cs", "startswith", "startswith_cs", "endswith",
        "endswith_cs", "hasprefix", "hassuffix", "hasprefix_cs", "hassuffix_cs", "in", "has_any",
        "has_all", "has_any_cs", "has_all_cs", "matches", "between", "notcontains", "notcontainscs",
        "nothas",
    )

    def _string_op_word(self) -> str | None:
        """Consume a word operator (has, !has, in~, contains_cs, between...) if one is next."""
        t = self.tok
        if t.kind == "op" and t.text.startswith("!") and t.text[1:2].isalpha():
            self.next()
            return self._tilde(t.text)
        if t.kind == "op" and t.text == "!" and self.peek().kind == "ident":
            w = self.peek().text.lower()
            if w in self._WORD_OPS and w not in ("has_any", "has_all", "matches"):
                self.next()
                self.next()
                return self._tilde("!" + w)
            return None
        if t.kind == "ident" and t.text.lower() in self._WORD_OPS:
            # operator words are case-sensitive in Kusto except the legacy aliases
            self.next()
            w = t.text.lower()
            w = {"notcontains": "!contains", "notcontainscs": "!contains_cs", "nothas": "!has"}.get(w, w)
            return self._tilde(w)
        return None

    def _tilde(self, w: str) -> str:
        if w in ("in", "!in") and self.is_op("~"):
            self.next()
            return w + "~"
        return w

    def parse_add(self) -> Expr:
        left = self.parse_mul()
        while self.is_op("+", "-"):
            t = self.next()
            left = Bin(t.line, t.col, t.text, left, self.parse_mul())
        return left

    def parse_mul(self) -> Expr:
        left = self.parse_unary()
        while self.is_op("*", "/", "%"):
            t = self.next()
            left = Bin(t.line, t.col, t.text, left, self.parse_unary())
        return left

    def parse_unary(self) -> Expr:
        if self.is_op("-", "+"):
            t = self.next()
            operand = self.parse_unary()
            if t.text == "+":
                return operand
            if isinstance(operand, Lit) and operand.type in ("long", "int", "real", "timespan"):
                return Lit(t.line, t.col, -operand.value, operand.type)
            return Unary(t.line, t.col, "-", operand)
        return self.parse_postfix()

    def parse_postfix(self) -> Expr:
        e = self.parse_primary()
        while True:
            if self.is_op(".") and (self.peek().kind == "ident" or self.peek().text == "["):
                t = self.next()
                if self.is_op("["):
                    continue
                e = Member(t.line, t.col, e, self.next().text)
                continue
            if self.is_op("["):
                t = self.next()
                idx = self.parse_expr()
                self.expect_op("]")
                if isinstance(idx, Lit) and idx.type == "string":
                    e = Member(t.line, t.col, e, str(idx.value))
                else:
                    e = Index(t.line, t.col, e, idx)
                continue
            return e

    def parse_primary(self) -> Expr:
        t = self.tok
        if t.kind == "string" and self._search_terms:
            # search "err" / "err*" / "*err" / "*err*" / "a*b" (search page, "Search predicate syntax")
            self.next()
            return self.search_term(t, str(t.value))
        if t.kind == "ident" and self._search_terms and self.peek().text == ":" and self.peek(2).kind == "string":
            self.next()
            self.next()
            needle = self.next()
            return Bin(t.line, t.col, "has", Name(t.line, t.col, t.text), Lit(needle.line, needle.col,
                                                                               needle.value, "string"))
        if self.is_op("*") and self._search_terms and self.peek().kind != "ident":
            self.next()
            return Lit(t.line, t.col, True, "bool")
        if t.kind == "string":
            self.next()
            val = t.value
            # adjacent string literals concatenate
            while self.tok.kind == "string":
                val += self.next().value
            return Lit(t.line, t.col, val, "string")
        if t.kind == "number":
            self.next()
            return Lit(t.line, t.col, t.value, "real" if isinstance(t.value, float) else "long")
        if t.kind == "timespan":
            self.next()
            return Lit(t.line, t.col, t.value, "timespan")
        if self.is_op("("):
            self.next()
            e = self.parse_expr()
            self.expect_op(")")
            return e
        if self.is_op("*"):
            self.next()
            return Star(t.line, t.col)
        if self.is_op("["):
            if self.peek().kind == "string" and self.peek(2).text == "]":
                return Name(t.line, t.col, self.ident())
            self.next()
            items = self.parse_args("]")
            return Call(t.line, t.col, "pack_array", tuple(items))
        if self.is_op("$") and self.peek().kind == "ident":
            self.next()
            side = self.next().text
            self.expect_op(".")
            return Name(t.line, t.col, f"${side}.{self.ident()}")
        if t.kind == "ident":
            w = t.text
            lw = w.lower()
            nxt = self.peek()
            if lw in ("true", "false") and nxt.text != "(":
                self.next()
                return Lit(t.line, t.col, lw == "true", "bool")
            if lw == "null" and nxt.text != "(":
                self.next()
                return Lit(t.line, t.col, None, "null")
            if nxt.text == "(" and nxt.kind == "op":
                if lw in ("datetime", "todatetime") and lw == "datetime":
                    return self.parse_datetime_literal()
                if lw in ("time", "timespan"):
                    return self.parse_timespan_literal()
                if lw == "dynamic":
                    return self.parse_dynamic_literal()
                if lw in ("int", "long", "real", "double", "bool", "boolean", "guid", "decimal", "int64"):
                    return self.parse_typed_literal(lw)
                if lw == "toscalar":
                    self.next()
                    self.next()
                    if not self._starts_tabular():
                        # toscalar(F(x)): F may be a tabular function (the translator decides),
                        # and toscalar() of a scalar expression is that value
                        e = self.parse_expr()
                        self.expect_op(")")
                        if isinstance(e, Call):
                            src = FuncSource(e.line, e.col, e.name, e.args)
                            return ToScalar(t.line, t.col, Query(e.line, e.col, src, ()))
                        return e
                    q = self.parse_query()
                    self.expect_op(")")
                    return ToScalar(t.line, t.col, q)
                self.next()
                self.next()
                args = self.parse_args(")")
                return Call(t.line, t.col, w, tuple(args))
            self.next()
            return Name(t.line, t.col, w)
        raise self.error(f"unexpected {t.text or 'end of query'!r} in expression")

    def _raw_until_close(self) -> str:
        """The raw text between the current '(' and its matching ')'."""
        self.expect_op("(")
        parts: list[str] = []
        depth = 1
        while True:
            t = self.next()
            if t.kind == "eof":
                raise self.error("unterminated literal", t)
            if t.text == "(":
                depth += 1
            elif t.text == ")":
                depth -= 1
                if depth == 0:
                    break
            parts.append(t.text if t.kind != "string" else t.value)
        return "".join(parts) if len(parts) != 1 else parts[0]

    def parse_datetime_literal(self) -> Expr:
        t = self.next()
        # reconstruct the raw text from the source tokens (they may be split as numbers/ops)
        start = self.pos
        raw = self._raw_until_close()
        toks = self.toks[start + 1 : self.pos - 1]
        raw = toks[0].value if len(toks) == 1 and toks[0].kind == "string" else self._join_raw(toks)
        if raw.strip().lower() == "null" or raw.strip() == "":
            return Lit(t.line, t.col, None, "datetime")
        return Lit(t.line, t.col, raw.strip(), "datetime")

    @staticmethod
    def _join_raw(toks: list[Token]) -> str:
        out = ""
        prev: Token | None = None
        for tk in toks:
            if prev is not None and (tk.line != prev.line or tk.col > prev.col + len(prev.text)):
                out += " "
            out += tk.text
            prev = tk
        return out

    def parse_timespan_literal(self) -> Expr:
        t = self.next()
        start = self.pos
        self._raw_until_close()
        toks = self.toks[start + 1 : self.pos - 1]
        if len(toks) == 1 and toks[0].kind == "timespan":
            return Lit(t.line, t.col, toks[0].value, "timespan")
        if len(toks) == 1 and toks[0].kind == "number":
            return Lit(t.line, t.col, float(toks[0].value) * 86400.0, "timespan")
        raw = self._join_raw(toks)
        if raw.strip().lower() == "null":
            return Lit(t.line, t.col, None, "timespan")
        m = re.fullmatch(r"(-)?(?:(\d+)\.)?(\d+):(\d+)(?::(\d+(?:\.\d+)?))?", raw.strip())
        if not m:
            raise self.unsupported(f"timespan literal {raw!r} is not supported", t)
        sign = -1.0 if m.group(1) else 1.0
        secs = float(int(m.group(2) or 0) * 86400 + int(m.group(3)) * 3600 + int(m.group(4)) * 60)
        secs += float(m.group(5) or 0)
        return Lit(t.line, t.col, sign * secs, "timespan")

    def parse_typed_literal(self, lw: str) -> Expr:
        t = self.next()
        start = self.pos
        self._raw_until_close()
        toks = self.toks[start + 1 : self.pos - 1]
        raw = self._join_raw(toks).strip()
        typ = SCALAR_TYPES[lw]
        if raw.lower() == "null":
            return Lit(t.line, t.col, None, typ)
        try:
            if typ in ("long", "int"):
                return Lit(t.line, t.col, int(raw, 0), typ)
            if typ == "real":
                return Lit(t.line, t.col, float(raw), typ)
            if typ == "bool":
                return Lit(t.line, t.col, raw.lower() == "true", typ)
            return Lit(t.line, t.col, raw, "string")
        except ValueError as exc:
            raise self.error(f"invalid {lw} literal {raw!r}", t) from exc

    def parse_dynamic_literal(self) -> Expr:
        t = self.next()
        self.expect_op("(")
        value = self._dyn_value()
        self.expect_op(")")
        return Lit(t.line, t.col, value, "dynamic")

    def _dyn_value(self) -> Any:
        t = self.tok
        if self.is_op("["):
            self.next()
            out: list[Any] = []
            while not self.is_op("]"):
                out.append(self._dyn_value())
                if self.is_op(","):
                    self.next()
            self.next()
            return out
        if self.is_op("{"):
            self.next()
            obj: dict[str, Any] = {}
            while not self.is_op("}"):
                kt = self.next()
                key = kt.value if kt.kind == "string" else kt.text
                self.expect_op(":")
                obj[str(key)] = self._dyn_value()
                if self.is_op(","):
                    self.next()
            self.next()
            return obj
        if self.is_op("-"):
            self.next()
            v = self._dyn_value()
            return -v
        if t.kind in ("string", "number"):
            self.next()
            return t.value
        if t.kind == "ident":
            lw = t.text.lower()
            if lw in ("true", "false"):
                self.next()
                return lw == "true"
            if lw == "null":
                self.next()
                return None
            if lw in ("datetime", "timespan", "time", "long", "int", "real", "guid"):
                self.next()
                start = self.pos
                self._raw_until_close()
                return self._join_raw(self.toks[start + 1 : self.pos - 1])
        raise self.error(f"unexpected {t.text!r} in dynamic literal")

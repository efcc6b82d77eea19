"""``join``/``lookup``, ``mv-expand`` and ``parse``."""

from __future__ import annotations

import re

from harness.rules.kql import syntax as ast
from harness.rules.kql.sqlbase import (
    ORD,
    SQL_TYPES,
    Binding,
    Rel,
    q,
    s,
)
from harness.rules.kql.summarize import Summarize


class JoinsAndExpansions(Summarize):
    """Operators that combine or reshape rows."""

    # join / lookup
    def join(self, left: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        p = op.params
        kind = p["kind"]
        right = self.query(p["right"], env)
        la, ra = self.alias(), self.alias()
        lcols, rcols = dict(left.cols), dict(right.cols)
        pairs: list[tuple[str, str]] = []
        conds: list[ast.Expr] = []

        def flat(c: ast.Expr) -> None:  # on $left.a == $right.b and $left.c == $right.d
            if isinstance(c, ast.Bin) and c.op == "and":
                flat(c.left)
                flat(c.right)
            else:
                conds.append(c)

        for c in p["on"]:
            flat(c)
        for cond in conds:
            if isinstance(cond, ast.Name) and not cond.name.startswith("$"):
                if cond.name not in lcols or cond.name not in rcols:
                    raise self.err(cond, f"Failed to resolve scalar expression named '{cond.name}'")
                pairs.append((cond.name, cond.name))
            elif isinstance(cond, ast.Bin) and cond.op == "==" and all(
                isinstance(x, ast.Name) and x.name.startswith("$") for x in (cond.left, cond.right)
            ):
                assert isinstance(cond.left, ast.Name) and isinstance(cond.right, ast.Name)
                sides = {}
                for x in (cond.left, cond.right):
                    side, col = x.name[1:].split(".", 1)
                    side_cols = lcols if side == "left" else rcols
                    if side not in ("left", "right") or col not in side_cols:
                        raise self.err(x, f"Failed to resolve scalar expression named '{col}'")
                    sides[side] = col
                if len(sides) != 2:
                    raise self.err(cond, "join condition must compare $left and $right")
                pairs.append((sides["left"], sides["right"]))
            else:
                raise self.unsup(cond, "join conditions other than equality of columns are not supported")
        on = " AND ".join(f"{la}.{q(lc)} = {ra}.{q(rc)}" for lc, rc in pairs)
        lsql = left.sql
        if op.name == "join" and kind == "innerunique":
            part = ", ".join(q(lc) for lc, _ in pairs)
            lsql = (f"SELECT * EXCLUDE (__rn) FROM (SELECT *, row_number() OVER (PARTITION BY {part}) AS __rn "
                    f"FROM ({left.sql}) AS {self.alias()}) AS {self.alias()} WHERE __rn = 1")
            kind = "inner"
        if op.name == "lookup" and kind not in ("leftouter", "inner"):
            raise self.unsup(op, f"lookup kind={kind} is not supported")
        lsel = [f"{la}.{q(n)} AS {q(n)}" for n, _ in left.cols]
        lnames = [n for n, _ in left.cols]
        if kind in ("leftanti", "anti", "leftantisemi", "leftsemi"):
            neg = "NOT " if "anti" in kind else ""
            sql = (f"SELECT {', '.join(lsel)} FROM ({lsql}) AS {la} WHERE {neg}EXISTS "
                   f"(SELECT 1 FROM ({right.sql}) AS {ra} WHERE {on})")
            return Rel(sql, list(left.cols))
        if kind in ("rightanti", "rightantisemi", "rightsemi"):
            neg = "NOT " if "anti" in kind else ""
            rsel = [f"{ra}.{q(n)} AS {q(n)}" for n, _ in right.cols]
            sql = (f"SELECT {', '.join(rsel)} FROM ({right.sql}) AS {ra} WHERE {neg}EXISTS "
                   f"(SELECT 1 FROM ({lsql}) AS {la} WHERE {on})")
            return Rel(sql, list(right.cols))
        jt = {"inner": "INNER", "leftouter": "LEFT OUTER", "rightouter": "RIGHT OUTER",
              "fullouter": "FULL OUTER", "outer": "FULL OUTER"}.get(kind)
        if jt is None:
            raise self.unsup(op, f"join kind={kind} is not supported")
        cols = list(left.cols)
        rsel = []
        used = set(lnames)
        same_keys = {rc for lc, rc in pairs if lc == rc}
        right_nullable = jt in ("LEFT OUTER", "FULL OUTER")
        left_nullable = jt in ("RIGHT OUTER", "FULL OUTER")
        if left_nullable:
            lsel = [(f"coalesce({la}.{q(n)}, '')" if t == "string" else f"{la}.{q(n)}") + f" AS {q(n)}"
                    for n, t in left.cols]
        for n, t in right.cols:
            if op.name == "lookup" and n in same_keys:
                continue
            out = n
            if out in used:
                k = 1
                while f"{n}{k}" in used:
                    k += 1
                out = f"{n}{k}"
            used.add(out)
            ref = f"{ra}.{q(n)}"
            rsel.append((f"coalesce({ref}, '')" if right_nullable and t == "string" else ref) + f" AS {q(out)}")
            cols.append((out, t))

        sql = f"SELECT {', '.join(lsel + rsel)} FROM ({lsql}) AS {la} {jt} JOIN ({right.sql}) AS {ra} ON {on}"
        return Rel(sql, cols)

    # mv-expand / parse
    def mv_expand(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        """mv-expand: arrays zipped row by row (shorter ones padded with null), bags as one-key bags.

        ``with_itemindex=I`` adds the 0-based index; ``limit N`` keeps the first N of each row's
        expansions (mv-expand page, "Parameters").
        """
        p = op.params
        if p.get("bagexpansion") not in (None, "bag"):
            raise self.unsup(op, "mv-expand bagexpansion=array is not supported")
        sc = self.scope(rel)
        exp: dict[str, tuple[str, str]] = {}
        lists: list[str] = []
        for item, totype in p["expand"]:
            sql, typ = self.expr(item.expr, sc, env)
            nm = item.names[0] if item.names else self.infer_name(item.expr, "Column1")
            if typ != "dynamic":
                raise self.err(item, f"mv-expand needs a dynamic value, not {typ}")
            lst = (f"(CASE WHEN json_type({sql}) = 'ARRAY' THEN CAST({sql} AS JSON[]) "
                   f"WHEN json_type({sql}) = 'OBJECT' THEN "
                   f"[json_object(k, json_extract({sql}, '$.\"' || k || '\"')) for k in json_keys({sql})] "
                   f"ELSE [{sql}] END)")
            lists.append(lst)
            value = "unnest(" + lst + ")"
            t = "dynamic"
            if totype and totype != "dynamic":
                value = self.convert(value, "dynamic", totype)
                t = totype
            exp[nm] = (value, t)
        index_name: str | None = p.get("with_itemindex")
        limit = p.get("limit")
        sels, cols = [], []
        for n, t in rel.cols:
            if n in exp:
                sels.append(f"{exp[n][0]} AS {q(n)}")
                cols.append((n, exp[n][1]))
            else:
                sels.append(q(n))
                cols.append((n, t))
        for n, (v, t) in exp.items():
            if rel.col_type(n) is None:
                sels.append(f"{v} AS {q(n)}")
                cols.append((n, t))
        if index_name is None and limit is None and not rel.ordered:
            return self.wrap(rel, sels, cols)
        longest = f"greatest({', '.join(f'len({x})' for x in lists)})" if len(lists) > 1 else f"len({lists[0]})"
        sels.append(f"unnest(range({longest})) AS __mvi")
        if rel.ordered:
            sels.append(q(ORD))
        inner = f"SELECT {', '.join(sels)} FROM ({rel.sql}) AS {self.alias()}"
        outer = [q(n) for n, _ in cols]
        if index_name is not None:
            outer.append(f"CAST(__mvi AS BIGINT) AS {q(index_name)}")
            cols = [*cols, (index_name, "long")]
        if rel.ordered:  # expanded rows follow their row's place, then the array's order
            outer.append(f"row_number() OVER (ORDER BY {q(ORD)}, __mvi) AS {q(ORD)}")
        where = f" WHERE __mvi < {self.const_int(limit, env)}" if limit is not None else ""
        return Rel(f"SELECT {', '.join(outer)} FROM ({inner}) AS {self.alias()}{where}", cols, rel.ordered)

    def mv_apply(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        """mv-apply: the subquery runs on each row's expansion; its rows join that row's columns.

        Each row gets an id; the subquery's operators are applied per id (summarize by it, top/take
        partitioned by it), then its output columns join the row's own (mv-apply page, "Examples").
        """
        rid = "__rid"
        tok = ast.Name(op.line, op.col, rid)
        base = self.wrap(rel, [q(n) for n, _ in rel.cols] + [f"row_number() OVER () AS {q(rid)}"],
                         [*rel.cols, (rid, "long")])
        expand_items = []
        for item, totype in op.params["expand"]:
            nm = item.names[0] if item.names else self.infer_name(item.expr, "Column1")
            expand_items.append((ast.Assign(item.line, item.col, (nm,), item.expr), totype))
        expanded = self.mv_expand(base, ast.Op(op.line, op.col, "mv-expand", {**op.params, "expand": expand_items}),
                                  env)
        keep = {rid, *(a.names[0] for a, _ in expand_items)}
        if op.params.get("with_itemindex"):
            keep.add(op.params["with_itemindex"])
        sub = Rel(f"SELECT {', '.join(q(n) for n, _ in expanded.cols if n in keep)}"
                  f"{', ' + q(ORD) if expanded.ordered else ''} FROM ({expanded.sql}) AS {self.alias()}",
                  [(n, t) for n, t in expanded.cols if n in keep], expanded.ordered)
        for sop in op.params["subquery"]:
            sub = self.operator(self.per_row(sop, tok), sub, env)
            if sub.col_type(rid) is None:
                raise self.unsup(sop, f"'{sop.name}' inside mv-apply is not supported")
        own = [(n, t) for n, t in rel.cols if sub.col_type(n) is None]
        added = [(n, t) for n, t in sub.cols if n != rid]
        la, ra = self.alias(), self.alias()
        sels = [f"{la}.{q(n)} AS {q(n)}" for n, _ in own] + [f"{ra}.{q(n)} AS {q(n)}" for n, _ in added]
        if base.ordered:  # rows keep their input order, each row's results in the subquery's order
            inner_ord = f", {ra}.{q(ORD)}" if sub.ordered else ""
            sels.append(f"row_number() OVER (ORDER BY {la}.{q(ORD)}{inner_ord}) AS {q(ORD)}")
        sql = (f"SELECT {', '.join(sels)} FROM ({base.sql}) AS {la} JOIN ({sub.sql}) AS {ra} "
               f"ON {la}.{q(rid)} = {ra}.{q(rid)}")
        return Rel(sql, own + added, base.ordered)

    def ipv4_lookup(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        """evaluate ipv4_lookup(Lookup, SourceKey, LookupKey [, ExtraKey...] [, return_unmatched]).

        Rows whose IPv4 falls in a lookup row's (prefix) address, and equal extra keys, get that
        row's columns, as lookup does; unmatched rows are kept only with return_unmatched=true
        (ipv4_lookup page, "Returns").
        """
        args = list(op.params["args"])
        unmatched = op.params["named"].get("return_unmatched")
        if unmatched is None and args and isinstance(args[-1], ast.Lit) and args[-1].type == "bool":
            unmatched = args.pop()
        keep_all = isinstance(unmatched, ast.Lit) and bool(unmatched.value)
        if len(args) < 3 or not all(isinstance(a, ast.Name) for a in args):
            raise self.err(op, "ipv4_lookup() needs a lookup table, a source key and a lookup key")
        names = [a.name for a in args if isinstance(a, ast.Name)]
        lookup = self.table(ast.TableRef(args[0].line, args[0].col, names[0]), env)
        src_key, lk_key, extra = names[1], names[2], names[3:]
        for n, r in [(src_key, rel), (lk_key, lookup)] + [(x, rel) for x in extra] + [(x, lookup) for x in extra]:
            if r.col_type(n) is None:
                raise self.err(op, f"Failed to resolve scalar expression named '{n}'")
        la, ra = self.alias(), self.alias()
        on = [f"kql_ipv4_in_range({self.to_string(f'{la}.{q(src_key)}', rel.col_type(src_key) or 'string')}, "
              f"{self.to_string(f'{ra}.{q(lk_key)}', lookup.col_type(lk_key) or 'string')})"]
        on += [f"{la}.{q(x)} = {ra}.{q(x)}" for x in extra]
        sels = [f"{la}.{q(n)} AS {q(n)}" for n, _ in rel.cols]
        cols = list(rel.cols)
        for n, t in lookup.cols:
            if n in extra or rel.col_type(n) is not None:
                continue
            ref = f"{ra}.{q(n)}"
            sels.append((f"coalesce({ref}, '')" if keep_all and t == "string" else ref) + f" AS {q(n)}")
            cols.append((n, t))
        order = ""
        if rel.ordered:  # the input's order survives the lookup
            sels.append(f"{la}.{q(ORD)} AS {q(ORD)}")
            order = q(ORD)
        jt = "LEFT OUTER" if keep_all else "INNER"
        sql = (f"SELECT {', '.join(sels)} FROM ({rel.sql}) AS {la} {jt} JOIN ({lookup.sql}) AS {ra} "
               f"ON {' AND '.join(on)}")
        return Rel(sql, cols, bool(order))

    @staticmethod
    def per_row(sop: ast.Op, rid: ast.Name) -> ast.Op:
        """The subquery operator applied to each row id separately."""
        p = sop.params.copy()
        if sop.name == "summarize":
            p["by"] = [*p["by"], ast.Assign(rid.line, rid.col, (rid.name,), rid)]
            return ast.Op(sop.line, sop.col, "summarize", p)
        if sop.name in ("top", "take"):
            return ast.Op(sop.line, sop.col, "partition", {"column": (rid.name, rid), "inner": sop})
        if sop.name == "project":
            p["items"] = [*p["items"], ast.Assign(rid.line, rid.col, (), rid)]
        if sop.name == "distinct" and not p.get("all_columns"):
            p["items"] = [*p["items"], ast.Assign(rid.line, rid.col, (), rid)]
        if sop.name == "project-away":
            p["names"] = [x for x in p["names"] if x[0] != rid.name]
        return ast.Op(sop.line, sop.col, sop.name, p)

    def parse_op(self, rel: Rel, op: ast.Op, env: dict[str, Binding]) -> Rel:
        p = op.params
        kind = p["kind"]
        if kind not in ("simple", "regex", "relaxed"):
            raise self.unsup(op, f"parse kind={kind} is not supported")
        src, st = self.expr(p["src"], self.scope(rel), env)
        src = self.to_string(src, st)
        parts = p["parts"]
        flags = p.get("flags", "")
        regex = "(?s)^" if kind != "regex" else f"(?s{flags})"
        caps: list[tuple[str, str]] = []
        for k, (_kind, pv) in enumerate(parts):
            last = k == len(parts) - 1
            if isinstance(pv, str):  # "lit"
                regex += pv if kind == "regex" else re.escape(pv)
            elif pv is None:  # "star"
                regex += "(?:.*?)" if not last else "(?:.*)"
            else:  # "col"
                name, ctype, _ = pv
                nxt_lit = k + 1 < len(parts)
                if ctype in ("long", "int") and kind != "regex":
                    grp = r"(-?\d+)"
                elif ctype == "real" and kind != "regex":
                    grp = r"(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
                else:
                    grp = "(.*?)" if nxt_lit else "(.*)"
                regex += grp
                caps.append((name, ctype))
        if kind != "regex" and parts and parts[-1][0] == "lit":
            regex += ""
        sels, cols = [], []
        newcols: dict[str, str] = {}
        for gi, (name, ctype) in enumerate(caps):
            ext = f"regexp_extract({src}, {s(regex)}, {gi + 1})"
            newcols[name] = ext if ctype == "string" else f"TRY_CAST(nullif({ext}, '') AS {SQL_TYPES[ctype]})"
        for n, t in rel.cols:
            if n in newcols:
                continue
            sels.append(q(n))
            cols.append((n, t))
        for name, ctype in caps:
            sels.append(f"{newcols[name]} AS {q(name)}")
            cols.append((name, ctype))
        return self.wrap(rel, sels, cols)

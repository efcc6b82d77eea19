"""Tabular sources: scripts and lets, tables, user functions, datatable and union."""

from __future__ import annotations

from harness.errors import RuleError, UnsupportedError
from harness.rules.kql import syntax as ast
from harness.rules.kql.predicates import ScalarOps
from harness.rules.kql.schema import table_columns
from harness.rules.kql.sqlbase import (
    ORD,
    SQL_TYPES,
    Binding,
    Rel,
    Scope,
    q,
    s,
)

# Defender functions answered from Microsoft's cloud data, which a replay does not have
_CLOUD_FUNCTIONS = {"FileProfile": "Microsoft's file profile data",
                    "SeenBy": "Microsoft's device discovery data"}


class TabularSources(ScalarOps):
    """Query sources to SQL relations."""

    # script
    def translate_script(self, script: ast.Script) -> Rel:
        env: dict[str, Binding] = {}
        for let in script.lets:
            env = self.bind_let(let, env)
        if script.query is None:
            raise self.err(script, "the query has no tabular expression to run")
        return self.finish(self.query(script.query, env))

    def bind_let(self, let: ast.Let, env: dict[str, Binding]) -> dict[str, Binding]:
        env = dict(env)
        v = let.value
        if isinstance(v, ast.FunctionDef):
            env[let.name] = Binding("func", v, dict(env))
        elif isinstance(v, ast.Query):
            env[let.name] = Binding("query", v, dict(env))
        elif (isinstance(v, ast.Call) and (fb := env.get(v.name)) is not None and fb.kind == "func"
              and isinstance(fb.value.result, ast.Query)):
            # let T = F(x); with F a tabular function: T is a table
            src = ast.FuncSource(v.line, v.col, v.name, v.args)
            env[let.name] = Binding("query", ast.Query(v.line, v.col, src, ()), dict(env))
        else:
            env[let.name] = Binding("expr", v, dict(env))
        return env

    def finish(self, rel: Rel) -> Rel:
        cols = ", ".join(q(n) for n, _ in rel.cols) or "NULL AS __empty"
        order = f" ORDER BY {q(ORD)}" if rel.ordered else ""
        a = self.alias()
        return Rel(f"SELECT {cols} FROM ({rel.sql}) AS {a}{order}", rel.cols, False)

    # tabular expressions
    def query(self, qry: ast.Query, env: dict[str, Binding]) -> Rel:
        rel = self.source(qry.source, env)
        for op in qry.ops:
            rel = self.operator(op, rel, env)
        return rel

    def source(self, src: ast.Source, env: dict[str, Binding]) -> Rel:
        if isinstance(src, ast.Query):
            return self.query(src, env)
        if isinstance(src, ast.TableRef):
            return self.table(src, env)
        if isinstance(src, ast.FuncSource):
            return self.call_tabular_function(src, src.name, list(src.args), env, None)
        if isinstance(src, ast.Union):
            return self.union(src, [], env)
        if isinstance(src, ast.Datatable):
            return self.datatable(src, env)
        if isinstance(src, ast.Search):
            return self.search_source(src, env)
        if isinstance(src, ast.Find):
            return self.find_source(src, env)
        if isinstance(src, ast.ExternalData):
            return self.external_data(src)
        if isinstance(src, ast.Print):
            sc = Scope()
            sels, cols = [], []
            for i, item in enumerate(src.items):
                sql, typ = self.expr(item.expr, sc, env)
                name = item.names[0] if item.names else f"print_{i}"
                sels.append(f"{sql} AS {q(name)}")
                cols.append((name, typ))
            return Rel("SELECT " + ", ".join(sels), cols)
        if isinstance(src, ast.Range):
            sc = Scope()
            a, ta = self.expr(src.start, sc, env)
            b, _ = self.expr(src.stop, sc, env)
            st, _ = self.expr(src.step, sc, env)
            typ = "datetime" if ta == "datetime" else ("real" if ta == "real" else "long")
            return Rel(f"SELECT unnest(generate_series({a}, {b}, {st})) AS {q(src.column)}", [(src.column, typ)])
        raise UnsupportedError(f"unsupported query source {type(src).__name__}")

    def table(self, ref: ast.TableRef, env: dict[str, Binding]) -> Rel:
        b = env.get(ref.name)
        if b is not None:
            if b.kind == "query":
                rel = self.query(b.value, b.env or {})
                rel.source_name = ref.name
                return rel
            if b.kind == "rel":
                r: Rel = b.value
                return Rel(r.sql, list(r.cols), r.ordered, ref.name)
            if b.kind == "func":
                rel = self.call_tabular_function(ref, ref.name, [], env, None)
                rel.source_name = ref.name  # union withsource= names a view by its name
                return rel
            raise self.err(ref, f"'{ref.name}' is a scalar, not a table")
        cols = self.tables.get(ref.name) or table_columns(ref.name, self.flavour)
        if cols is None:
            raise self.err(ref, f"Failed to resolve table or column expression named '{ref.name}'")
        self.used_tables.add(ref.name)
        sel = ", ".join(q(n) for n, _ in cols)
        return Rel(f"SELECT {sel} FROM {q(ref.name)}", list(cols), False, ref.name)

    def call_tabular_function(self, node: ast.Node, name: str, args: list[ast.Expr],
                              env: dict[str, Binding], piped: Rel | None) -> Rel:
        b = env.get(name)
        if b is None or b.kind != "func":
            if b is None and name in _CLOUD_FUNCTIONS:
                raise self.unsup(node, f"unsupported: needs {_CLOUD_FUNCTIONS[name]} ({name})")
            raise self.unsup(node, f"tabular function '{name}' is not supported") if b is None else self.err(
                node, f"'{name}' is not a function")
        fd: ast.FunctionDef = b.value
        fenv = dict(b.env or {})
        fenv[name] = b  # recursion is not allowed in Kusto, but self-reference must resolve
        params = list(fd.params)
        if piped is not None:
            if not params or params[0].type != "tabular":
                raise self.err(node, f"function '{name}' does not take a tabular first argument")
            fenv[params[0].name] = Binding("rel", piped)
            params = params[1:]
        if len(args) > len(params):
            raise self.err(node, f"function '{name}' takes {len(params)} argument(s), got {len(args)}")
        for i, p in enumerate(params):
            if i < len(args):
                a = args[i]
                if p.type == "tabular":
                    if isinstance(a, ast.TabularArg):
                        fenv[p.name] = Binding("rel", self.query(a.query, env))
                    elif isinstance(a, ast.Name):
                        fenv[p.name] = Binding("rel", self.table(ast.TableRef(a.line, a.col, a.name), env))
                    else:
                        raise self.err(a, f"argument '{p.name}' must be tabular")
                elif isinstance(a, ast.Lit) and a.type == p.type:
                    # a literal stays a constant in the body, e.g. column_ifexists(param, ...)
                    fenv[p.name] = Binding("expr", a, env={})
                else:
                    sql, typ = self.expr(a, Scope(), env)
                    fenv[p.name] = Binding("sql", sql, type=typ)
            elif p.default is not None:
                sql, typ = self.expr(p.default, Scope(), fenv)
                fenv[p.name] = Binding("sql", sql, type=typ)
            else:
                raise self.err(node, f"function '{name}' needs argument '{p.name}'")
        for let in fd.body:
            fenv = self.bind_let(let, fenv)
        if not isinstance(fd.result, ast.Query):
            raise self.err(node, f"function '{name}' returns a scalar, not a table")
        return self.query(fd.result, fenv)

    def datatable(self, dt: ast.Datatable, env: dict[str, Binding]) -> Rel:
        ncol = len(dt.columns)
        if ncol == 0 or len(dt.values) % ncol:
            raise self.err(dt, f"datatable has {len(dt.values)} values for {ncol} columns")
        rows = []
        for r in range(len(dt.values) // ncol):
            cells = []
            for c, (cname, ctype) in enumerate(dt.columns):
                sql, typ = self.expr(dt.values[r * ncol + c], Scope(), env)
                cells.append(self.convert(sql, typ, ctype) + f" AS {q(cname)}")
            rows.append("SELECT " + ", ".join(cells))
        if not rows:
            cells = [f"CAST(NULL AS {SQL_TYPES[t]}) AS {q(n)}" for n, t in dt.columns]
            return Rel("SELECT " + ", ".join(cells) + " WHERE FALSE", list(dt.columns))
        # a row number keeps datatable order, which Kusto preserves
        body = " UNION ALL ".join(f"SELECT *, {i} AS {q(ORD)} FROM ({r})" for i, r in enumerate(rows))
        return Rel(body, list(dt.columns), True)

    def convert(self, sql: str, typ: str, target: str) -> str:
        if typ == target or (typ == "null" and target != "dynamic"):
            return f"CAST({sql} AS {SQL_TYPES[target]})" if typ == "null" else sql
        if target == "dynamic":
            return self.to_dynamic(sql, typ)
        if target == "string":
            return self.to_string(sql, typ)
        return f"TRY_CAST({sql} AS {SQL_TYPES[target]})"

    # union
    def union(self, u: ast.Union, first: list[Rel], env: dict[str, Binding]) -> Rel:
        if u.kind not in ("outer", "inner"):
            raise self.unsup(u, f"union kind={u.kind} is not supported")
        rels = list(first)
        for i, sq in enumerate(u.sources):
            if u.isfuzzy:
                try:
                    rels.append(self.query(sq, env))
                except RuleError:
                    continue
            else:
                r = self.query(sq, env)
                if r.source_name is None or sq.ops:
                    r.source_name = r.source_name if not sq.ops else f"union_arg{i}"
                rels.append(r)
        # outer column unification; a name with several types splits into name_type columns
        types: dict[str, list[str]] = {}
        order: list[str] = []
        for r in rels:
            for n, t in r.cols:
                if n not in types:
                    types[n] = []
                    order.append(n)
                if t not in types[n] and t != "null":
                    types[n].append(t)
        outcols: list[tuple[str, str, str]] = []  # (output name, source name, type)
        # a name with several types splits into name_type columns, de-duplicated against the other
        # columns with a number (union page, "Source columns types mismatch": x_long1)
        taken = {n for n in order if len(types[n]) <= 1}
        for n in order:
            ts = types[n] or ["string"]
            if u.kind == "inner" and not all(r.col_type(n) is not None for r in rels):
                continue
            if len(ts) == 1:
                outcols.append((n, n, ts[0]))
            else:
                for t in ts:
                    out, k = f"{n}_{t}", 0
                    while out in taken:
                        k += 1
                        out = f"{n}_{t}{k}"
                    taken.add(out)
                    outcols.append((out, n, t))
        parts = []
        for r in rels:
            sels = []
            if u.withsource:
                sels.append(f"{s(r.source_name or '')} AS {q(u.withsource)}")
            for on, sn, t in outcols:
                rt = r.col_type(sn)
                if rt == t or (rt == "null" and len(types[sn]) <= 1):
                    sels.append(f"CAST({q(sn)} AS {SQL_TYPES[t]}) AS {q(on)}" if rt == "null" else
                                f"{q(sn)} AS {q(on)}")
                else:
                    sels.append(("''" if t == "string" else f"CAST(NULL AS {SQL_TYPES[t]})") + f" AS {q(on)}")
            parts.append(f"SELECT {', '.join(sels)} FROM ({r.sql}) AS {self.alias()}")
        cols = ([(u.withsource, "string")] if u.withsource else []) + [(on, t) for on, _, t in outcols]
        return Rel(" UNION ALL ".join(f"({p})" for p in parts), cols)

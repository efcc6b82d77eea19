"""The local Sigma engine: load rules once, route events by log source, prefilter on literals,
evaluate the compiled predicates, then run correlation rules over the matches.

Throughput comes from three things, in this order: routing (a rule only sees events of a log
source it covers; the route table is computed once per distinct log source), a generated
prefilter per route (one ``literal in value`` test per distinct literal, shared by every rule
needing it), and compiled predicates evaluated only on candidate rules.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import filterfalse
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from harness.errors import ErrorCollection, RuleError, UnsupportedError
from harness.rules.sigma.compiler import CompiledRule, Logsource, compile_rule
from harness.rules.sigma.correlation import (
    CompiledCorrelation,
    Hit,
    compile_correlation,
    evaluate,
    parse_time,
)
from harness.rules.sigma.loader import RuleProblem, error_message, load_collection, locate
from harness.rules.sigma.values import _MISSING, Fields, get_field, iter_texts, lowered_text

TIME_FIELDS = ("UtcTime", "@timestamp", "timestamp", "TimeCreated", "time", "EventTime", "ts")


@dataclass(frozen=True)
class SigmaMatch:
    """One rule match. ``index`` is the event's 0-based position in the input; a correlation match
    carries every joined event in ``event_indexes`` (``index`` is the last of them)."""

    rule_id: str
    title: str
    level: str | None
    index: int
    event: Mapping[str, Any]
    event_indexes: tuple[int, ...] = ()
    correlation_type: str | None = None
    group: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "title": self.title,
            "level": self.level,
            "index": self.index,
            "event": dict(self.event),
        }
        if self.correlation_type is not None:
            out["correlation_type"] = self.correlation_type
            out["event_indexes"] = list(self.event_indexes)
            out["group"] = dict(self.group or {})
        return out


@dataclass
class EngineStats:
    """Counters of the last :meth:`SigmaEngine.match` run."""

    events: int = 0
    pairs: int = 0  # (event, loaded rule) pairs, including those skipped by routing
    evaluated: int = 0  # predicates actually evaluated after routing and prefilter
    matches: int = 0
    untimed: int = 0  # correlation inputs without a timestamp (skipped)
    malformed: int = 0  # records without an ``event`` object (skipped)
    seconds: float = 0.0


@dataclass
class _Route:
    rules: tuple[int, ...]
    prefilter: Any  # generated function fields -> (candidate rule positions, clause bits)
    always: tuple[int, ...]
    needs: tuple[int, ...]  # per rule position: the clause bits that must all be set
    source: str = field(repr=False, default="")
    chosen: dict[tuple[tuple[int, ...], int], tuple[int, ...]] = field(repr=False, default_factory=dict)

    def choose(self, candidates: tuple[int, ...], bits: int) -> tuple[int, ...]:
        """The candidates whose other requirements hold too, in rule order; remembered (bounded)
        per (candidates, bits): events of one kind give the same few combinations."""
        needs = self.needs
        todo = tuple(p for p in sorted(set(candidates)) if needs[p] & bits == needs[p])
        if len(self.chosen) >= _CACHE_LIMIT:
            self.chosen.clear()
        self.chosen[(candidates, bits)] = todo
        return todo


def _ident(text: str) -> str:
    return repr(text)


_GRAM = 3
_SLICES = [slice(i, i + _GRAM) for i in range(8192)]
#: Fields with more literals than this use the trigram index instead of one test per literal.
_INDEX_THRESHOLD = 40


def _grams(value: str, count: int) -> set[str]:
    """The set of trigrams of ``value`` (``count`` = len(value) - 2 > 0)."""
    if count <= len(_SLICES):
        return set(map(value.__getitem__, _SLICES[:count]))
    return {value[i : i + _GRAM] for i in range(count)}


Literals = tuple[str, ...]  # all must occur in one value (a wildcard pattern's parts)


def _trigram_index(
    lits: dict[Literals, tuple[tuple[int, ...], int]],
) -> tuple[dict[str, list[tuple[str, Literals, tuple[int, ...], int]]], list[Literals]]:
    """Key every literal group whose longest literal has >= 3 characters by that literal's least
    common trigram (among the groups' longest literals); shorter ones are returned apart, to be
    tested directly. Index entries are (longest literal, the other literals, positions, bits)."""
    freq: dict[str, int] = {}
    for group in lits:
        lit = group[0]
        for g in {lit[i : i + _GRAM] for i in range(len(lit) - _GRAM + 1)}:
            freq[g] = freq.get(g, 0) + 1
    index: dict[str, list[tuple[str, Literals, tuple[int, ...], int]]] = {}
    short: list[Literals] = []
    for group, (poss, bits) in lits.items():
        lit = group[0]
        if len(lit) < _GRAM:
            short.append(group)
            continue
        grams = [lit[i : i + _GRAM] for i in range(len(lit) - _GRAM + 1)]
        key = min(grams, key=lambda g: (freq[g], g.isalpha(), g))
        index.setdefault(key, []).append((lit, group[1:], poss, bits))
    return index, short


def _all_in(rest: Literals, v: str) -> bool:
    return all(lit in v for lit in rest)


_CACHE_LIMIT = 1 << 16
_NOTHING: tuple[tuple[int, ...], int] = ((), 0)


def _field_checker(lits: dict[Literals, tuple[tuple[int, ...], int]], consts: dict[str, Any], tag: str) -> list[str]:
    """Source of ``def _f<tag>(v)``: lower-cased text -> (candidate rule positions, clause bits), or
    ``_E`` when no literal group occurs in it."""
    lines = [f"def _f{tag}(v):", "    c = []", "    b = 0"]
    if len(lits) > _INDEX_THRESHOLD:
        index, direct = _trigram_index(lits)
        consts[f"_ix{tag}"] = index
        consts[f"_k{tag}"] = frozenset(index)
        lines += [
            "    m = len(v) - 2",
            "    if m > 0:",
            f"        for k in _grams(v, m).intersection(_k{tag}):",
            f"            for lit, rest, poss, bits in _ix{tag}[k]:",
            "                if lit in v and (not rest or _all_in(rest, v)):",
            "                    c += poss",
            "                    b |= bits",
        ]
    else:
        direct = list(lits)
    for i, group in enumerate(direct):
        poss, bits = lits[group]
        consts[f"_r{tag}_{i}"] = poss
        test = " and ".join(f"{_ident(lit)} in v" for lit in group)
        lines.append(f"    if {test}:")
        lines.append(f"        c += _r{tag}_{i}" if poss else "        pass")
        if bits:
            lines.append(f"        b |= {bits}")
    lines.append("    return (tuple(c), b) if c or b else _E")
    return lines


def _memoised_check(n: int, indent: str) -> list[str]:
    """Generated lines: the result of field checker ``n`` for str/int value ``v`` added to ``c``/``b``,
    memoised per value in ``_c{n}`` (bounded); the caller adds the branch for other value types."""
    return [
        f"{indent}k = v.__class__",
        f"{indent}if k is str or k is int:",
        f"{indent}    r = _c{n}.get(v)",
        f"{indent}    if r is None:",
        f"{indent}        r = _f{n}(v.lower() if k is str else str(v))",
        f"{indent}        if len(_c{n}) >= _LIMIT: _c{n}.clear()",
        f"{indent}        _c{n}[v] = r",
        f"{indent}    if r is not _E:",
        f"{indent}        c += r[0]",
        f"{indent}        b |= r[1]",
    ]


def _keyword_check(n: int) -> list[str]:
    """Generated lines: field checker ``n`` on every value of the event. String values known to
    hold no literal are kept in the set ``_n{n}`` and removed from the event's values at once (a
    ``filterfalse``, in C); the others are memoised in ``_c{n}`` (both bounded). Only string keys
    are stored: a bool or int never takes the verdict of an equal int (``True == 1``)."""
    return [
        "    try:",
        f"        vs = list(_drop(_n{n}.__contains__, ev.values()))",
        "    except TypeError:  # a list or object value",
        "        vs = list(ev.values())",
        "    for v in vs:",
        "        if v.__class__ is str:",
        f"            r = _c{n}.get(v)",
        "            if r is None:",
        f"                r = _f{n}(v.lower())",
        "                if r is _E:",
        f"                    if len(_n{n}) >= _LIMIT: _n{n}.clear()",
        f"                    _n{n}.add(v)",
        "                    continue",
        f"                if len(_c{n}) >= _LIMIT: _c{n}.clear()",
        f"                _c{n}[v] = r",
        "            c += r[0]",
        "            b |= r[1]",
        "        elif v is not None:",
        "            for t in _texts(v):",
        f"                r = _f{n}(t.lower())",
        "                c += r[0]",
        "                b |= r[1]",
    ]


def _build_prefilter(rules: Sequence[CompiledRule], positions: Sequence[int]) -> _Route:
    """Generate one prefilter function for a route: literal tests grouped by field.

    A rule is a candidate when its most selective requirement (``CompiledRule.requirement``)
    holds, and is evaluated only if its other requirements (``clauses``) hold too: each of those
    is one bit of the route, set by the prefilter when one of its literal groups occurs.
    Per field, a generated checker maps the lower-cased value to the rules and bits whose literals
    occur in it: one ``literal in value`` test per literal group, or, for fields with many
    groups, a trigram index (only the groups keyed by a trigram of the value are tested).
    Results are memoised per distinct field value (bounded), since field values repeat heavily
    in telemetry (images, parents, users, hosts).
    """
    groups: dict[str | None, dict[Literals, tuple[list[int], int]]] = {}
    always: list[int] = []
    needs = [0] * len(rules)
    nbits = 0
    for pos in positions:
        rule = rules[pos]
        req = rule.requirement
        if not req:
            always.append(pos)
            continue
        for fname, group in req:
            groups.setdefault(fname, {}).setdefault(group, ([], 0))[0].append(pos)
        for clause in rule.clauses:
            if clause == req:
                continue
            bit = 1 << nbits
            nbits += 1
            needs[pos] |= bit
            for fname, group in clause:
                entry = groups.setdefault(fname, {}).setdefault(group, ([], 0))
                groups[fname][group] = (entry[0], entry[1] | bit)
    consts: dict[str, Any] = {
        "_get": get_field, "_low": lowered_text, "_M": _MISSING, "_texts": iter_texts, "_grams": _grams,
        "_LIMIT": _CACHE_LIMIT, "_all_in": _all_in, "_E": _NOTHING,
        "_drop": filterfalse,
    }
    checkers: list[str] = []
    lines = ["def prefilter(ev):", "    c = ()", "    b = 0"]
    for n, (fname, raw) in enumerate(groups.items()):
        lits = {g: (tuple(sorted(set(p))), bits) for g, (p, bits) in raw.items()}
        checkers += [*_field_checker(lits, consts, str(n)), ""]
        consts[f"_c{n}"] = {}
        if fname is None:  # keywords match value by value: every value of every event is tested
            consts[f"_n{n}"] = set()
            lines += _keyword_check(n)
            continue
        lines.append(f"    v = ev.get({_ident(fname)}, _M)")
        if "." in fname:
            lines.append(f"    if v is _M: v = _get(ev, {_ident(fname)})")
        lines += [
            *_memoised_check(n, "    "),
            "    elif v is not _M and v is not None:",
            f"        r = _f{n}(_low(v))",
            "        c += r[0]",
            "        b |= r[1]",
        ]
    lines.append("    return c, b")
    src = "\n".join(checkers + lines)
    namespace: dict[str, Any] = dict(consts)
    exec(compile(src, "<sigma-prefilter>", "exec"), namespace)
    return _Route(tuple(positions), namespace["prefilter"], tuple(always), tuple(needs), src)


class SigmaEngine:
    """Compiled Sigma rules and correlations, ready to match Sigma-view events."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        correlations: Sequence[CompiledCorrelation] = (),
        problems: Sequence[RuleProblem] = (),
        rule_keys: Sequence[int] | None = None,
        output: Sequence[bool] | None = None,
    ) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.correlations: tuple[CompiledCorrelation, ...] = tuple(correlations)
        self.problems: tuple[RuleProblem, ...] = tuple(problems)
        self._keys = tuple(rule_keys) if rule_keys is not None else tuple(range(len(self.rules)))
        self._output = tuple(output) if output is not None else (True,) * len(self.rules)
        referenced = {k for c in self.correlations for k in c.rule_keys}
        self._feeds = tuple(self._keys[i] in referenced for i in range(len(self.rules)))
        self._routes: dict[Logsource, _Route] = {}
        self.stats = EngineStats()

    # --- construction --------------------------------------------------------------------------

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[str | Path],
        pipelines: Sequence[str | Path | ProcessingPipeline] = (),
        placeholders: Mapping[str, list[str]] | None = None,
    ) -> SigmaEngine:
        """Load and compile every rule under ``paths``. Problems are kept in :attr:`problems`
        (one per failing rule, with file, line, column and the reason); nothing is dropped
        silently. Use :meth:`raise_on_problems` to turn them into one ErrorCollection."""
        loaded = load_collection(paths)
        pipeline = _pipeline(pipelines)
        problems = list(loaded.problems)
        rules: list[CompiledRule] = []
        keys: list[int] = []
        output: list[bool] = []
        correlations: list[CompiledCorrelation] = []
        for rule in loaded.collection.rules:
            text = loaded.texts.get(str(rule.source.path), "") if rule.source else ""
            path = str(rule.source.path) if rule.source else "<rules>"
            rid = str(rule.id) if rule.id else rule.name
            try:
                if pipeline is not None:
                    pipeline.apply(rule)
                if isinstance(rule, SigmaRule):
                    rules.append(compile_rule(rule, placeholders))
                    keys.append(id(rule))
                    output.append(bool(getattr(rule, "_output", True)))
                elif isinstance(rule, SigmaCorrelationRule):
                    correlations.append(compile_correlation(rule))
            except UnsupportedError as exc:
                loc = exc.location
                if loc is None or loc.line is None:
                    loc = locate(path, text, exc.message, "unsupported")
                problems.append(RuleProblem("unsupported", exc.message, loc, rid, rule.title))
            except RuleError as exc:
                loc = locate(path, text, exc.message, None)
                problems.append(RuleProblem("invalid", exc.message, loc, rid, rule.title))
            except SigmaError as exc:
                loc = locate(path, text, str(exc), type(exc).__name__)
                problems.append(RuleProblem("invalid", error_message(exc), loc, rid, rule.title))
            except (ValueError, TypeError, RecursionError, OverflowError) as exc:
                loc = locate(path, text, str(exc), None)
                problems.append(RuleProblem("invalid", f"{type(exc).__name__}: {exc}", loc, rid, rule.title))
        # a correlation whose base rule failed cannot be evaluated: report it rather than half-run it
        known = set(keys) | {c.self_key for c in correlations}
        kept: list[CompiledCorrelation] = []
        for corr in correlations:
            missing = [n for k, n in zip(corr.rule_keys, corr.rule_names, strict=False) if k not in known]
            if missing:
                loc = corr.source or locate("<rules>", "", "", None)
                problems.append(
                    RuleProblem("invalid", f"referenced rule(s) failed to compile: {', '.join(missing)}",
                                loc, corr.rule_id, corr.title)
                )
            else:
                kept.append(corr)
        return cls(rules, kept, problems, keys, output)

    def raise_on_problems(self) -> None:
        """Raise one ErrorCollection listing every rule that did not compile."""
        if self.problems:
            raise ErrorCollection([p.to_error() for p in self.problems])

    # --- matching ------------------------------------------------------------------------------

    def _route(self, ls: Logsource) -> _Route:
        route = self._routes.get(ls)
        if route is None:
            positions = [i for i, r in enumerate(self.rules) if r.logsource.covers(ls)]
            route = _build_prefilter(self.rules, positions)
            self._routes[ls] = route
        return route

    def match(self, records: Iterable[Mapping[str, Any]]) -> Iterator[SigmaMatch]:
        """Match Sigma-view records (``{"logsource": {...}, "event": {...}}``) in input order.

        Rule matches are yielded as events arrive; correlation matches follow at the end of
        the input (they need the whole time window)."""
        stats = self.stats = EngineStats()
        started = time.perf_counter()
        nrules = len(self.rules) + len(self.correlations)
        rules, output, feeds, keys = self.rules, self._output, self._feeds, self._keys
        preds = tuple(r.predicate for r in rules)
        evaluated = 0
        hits: dict[int, list[Hit]] = {}
        events_by_index: dict[int, Mapping[str, Any]] = {}
        cache: dict[tuple[Any, Any, Any], _Route] = {}
        index = -1
        for index, record in enumerate(records):
            ls_raw = record.get("logsource") or {}
            fields = record.get("event")
            if fields.__class__ is not dict and not isinstance(fields, Mapping):
                stats.malformed += 1  # no event object: nothing to match, counted not raised
                continue
            if ls_raw.__class__ is not dict and not isinstance(ls_raw, Mapping):
                ls_raw = {}
            ck = (ls_raw.get("product"), ls_raw.get("category"), ls_raw.get("service"))
            route = cache.get(ck)
            if route is None:
                route = cache[ck] = self._route(Logsource.of(*ck))
            candidates, bits = route.prefilter(fields)
            if route.always:
                candidates += route.always
            if not candidates:
                continue
            todo = route.chosen.get((candidates, bits))
            if todo is None:
                todo = route.choose(candidates, bits)
            evaluated += len(todo)
            for pos in todo:
                if not preds[pos](fields):
                    continue
                rule = rules[pos]
                if feeds[pos]:
                    t = _event_time(record, fields)
                    if t is None:
                        stats.untimed += 1
                    else:
                        hits.setdefault(keys[pos], []).append(Hit(t, (index,), fields, keys[pos]))
                        events_by_index[index] = fields
                if output[pos]:
                    stats.matches += 1
                    yield SigmaMatch(rule.rule_id, rule.title, rule.level, index, fields)
        stats.events = index + 1
        stats.evaluated = evaluated
        stats.pairs = stats.events * nrules
        for corr in self.correlations:
            inputs = [h for k in corr.rule_keys for h in hits.get(k, [])]
            for m in evaluate(corr, inputs):
                hits.setdefault(corr.self_key, []).append(Hit(m.time, m.indexes, m.group, corr.self_key))
                stats.matches += 1
                last = m.indexes[-1] if m.indexes else -1
                yield SigmaMatch(
                    m.rule_id,
                    m.title,
                    m.level,
                    last,
                    events_by_index.get(last, {}),
                    m.indexes,
                    m.correlation_type,
                    m.group,
                )
        stats.seconds = time.perf_counter() - started

    def match_all(self, records: Iterable[Mapping[str, Any]]) -> list[SigmaMatch]:
        """:meth:`match` into a list."""
        return list(self.match(records))


def _event_time(record: Mapping[str, Any], fields: Fields) -> float | None:
    meta = record.get("meta")
    if isinstance(meta, Mapping):
        t = parse_time(meta.get("time"))
        if t is not None:
            return t
    for name in TIME_FIELDS:
        value = fields.get(name)
        if value is not None:
            t = parse_time(value)
            if t is not None:
                return t
    return None


def _pipeline(items: Sequence[str | Path | ProcessingPipeline]) -> ProcessingPipeline | None:
    """Load processing pipelines (pySigma YAML) and chain them by priority."""
    if not items:
        return None
    pipes: list[ProcessingPipeline] = []
    for item in items:
        if isinstance(item, ProcessingPipeline):
            pipes.append(item)
            continue
        path = Path(item)
        try:
            pipes.append(ProcessingPipeline.from_yaml(path.read_text(encoding="utf-8")))
        except (OSError, SigmaError, ValueError) as exc:
            raise RuleError(f"invalid processing pipeline: {exc}", locate(str(path), "", "", None)) from exc
    pipes.sort(key=lambda p: p.priority)
    out = pipes[0]
    for p in pipes[1:]:
        out = out + p
    return out

"""Load Sigma rule files with pySigma, report every problem with file, line and column.

pySigma parses and validates; it records only the file of an error (never line / column for most
errors), so :func:`locate` finds the YAML node the message points at (a quoted token, the
``condition``, a modifier key, ``logsource``) and fills line and column from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.rule import SigmaRule

from harness.errors import RuleError, SourceLocation, UnsupportedError

RULE_SUFFIXES = (".yml", ".yaml")

#: libyaml's safe loader parses the 3,000-rule corpus about 9x faster than the pure-Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RuleProblem:
    """A rule that did not compile: ``kind`` is ``invalid`` (bad rule) or ``unsupported``."""

    kind: str
    reason: str
    location: SourceLocation
    rule_id: str | None = None
    title: str | None = None

    def __str__(self) -> str:
        who = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{self.location}: {self.kind}{who}: {self.reason}"

    def to_error(self) -> RuleError:
        cls = UnsupportedError if self.kind == "unsupported" else RuleError
        return cls(self.reason, self.location)


@dataclass
class LoadedCollection:
    """What pySigma made of the files, plus every per-file problem already found."""

    collection: SigmaCollection
    problems: list[RuleProblem] = field(default_factory=list)
    files: int = 0
    texts: dict[str, str] = field(default_factory=dict, repr=False)


def iter_rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories (recursively) into their ``.yml`` / ``.yaml`` files, sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.suffix in RULE_SUFFIXES and f.is_file()))
        else:
            out.append(p)
    return out


def load_collection(paths: Sequence[str | Path]) -> LoadedCollection:
    """Parse every rule file; a broken file is reported, never fatal for the others."""
    collections: list[SigmaCollection] = []
    result = LoadedCollection(collection=SigmaCollection([]))
    for path in iter_rule_files(paths):
        result.files += 1
        spath = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = f"cannot read rule file: {exc}"
            result.problems.append(RuleProblem("invalid", reason, SourceLocation(spath)))
            continue
        result.texts[spath] = text
        try:
            docs = list(yaml.load_all(text, Loader=_SafeLoader))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            loc = SourceLocation(spath, mark.line + 1, mark.column + 1) if mark else SourceLocation(spath)
            problem = getattr(exc, "problem", None) or str(exc)
            ctx = getattr(exc, "context_mark", None)
            context = getattr(exc, "context", None)
            if ctx is not None and context:
                problem += f" ({context} at line {ctx.line + 1}, column {ctx.column + 1})"
            result.problems.append(RuleProblem("invalid", f"YAML syntax error: {problem}", loc))
            continue
        if not any(isinstance(d, dict) for d in docs):
            reason = "file holds no Sigma rule (no YAML mapping)"
            result.problems.append(RuleProblem("invalid", reason, SourceLocation(spath, 1, 1)))
            continue
        try:
            coll = SigmaCollection.from_dicts(
                [d for d in docs if d is not None],
                collect_errors=True,
                source=SigmaRuleLocation(path),
                collect_filters=True,
                resolve_references=False,
            )
        except SigmaError as exc:  # errors pySigma does not collect
            result.problems.append(_problem(exc, spath, text))
            continue
        except Exception as exc:
            reason = f"pySigma failed: {type(exc).__name__}: {exc}"
            result.problems.append(RuleProblem("invalid", reason, SourceLocation(spath, 1, 1)))
            continue
        bad: set[int] = set()
        seen: set[int] = set()
        for rule in [*coll.rules, *coll.filters]:
            if rule.errors:
                bad.add(id(rule))
                for err in rule.errors:
                    seen.add(id(err))
                    result.problems.append(_problem(err, spath, text, rule))
        for err in coll.errors:  # collection-level errors (global/repeat actions, alias bombs)
            if id(err) not in seen:
                result.problems.append(_problem(err, spath, text))
        coll.rules = [r for r in coll.rules if id(r) not in bad]
        coll.filters = [f for f in coll.filters if id(f) not in bad]
        collections.append(coll)

    merged = SigmaCollection.merge(collections, resolve_references=False)
    _drop_dangling_references(merged, result)
    try:
        merged.resolve_rule_references()
    except SigmaError as exc:
        where = str(exc.source.path) if exc.source else "<rules>"
        result.problems.append(_problem(exc, where, result.texts.get(where, "")))
    result.collection = merged
    return result


def _ref_exists(coll: SigmaCollection, ref: str) -> bool:
    try:
        coll[ref]
    except (SigmaError, KeyError, ValueError):
        return False
    return True


def _drop_dangling_references(coll: SigmaCollection, result: LoadedCollection) -> None:
    """Correlation rules pointing at rules that are not loaded are reported and removed."""
    changed = True
    while changed:  # removing one correlation can orphan another that references it
        changed = False
        keep: list[Any] = []
        for rule in coll.rules:
            if isinstance(rule, SigmaCorrelationRule):
                refs = [r.reference for r in rule.rules or []]
                missing = [r for r in refs if not _ref_exists(coll, r)]
                if missing:
                    path = str(rule.source.path) if rule.source else "<rules>"
                    loc = locate(path, result.texts.get(path, ""), f"'{missing[0]}'", None)
                    result.problems.append(
                        RuleProblem(
                            "invalid",
                            f"correlation references rule(s) not loaded: {', '.join(missing)}",
                            loc,
                            str(rule.id) if rule.id else rule.name,
                            rule.title,
                        )
                    )
                    changed = True
                    continue
            keep.append(rule)
        if changed:
            coll.rules = keep
            coll.ids_to_rules = {r.id: r for r in keep if r.id is not None}
            coll.names_to_rules = {r.name: r for r in keep if r.name is not None}


def _problem(
    exc: SigmaError, path: str, text: str, rule: SigmaRule | SigmaCorrelationRule | SigmaFilter | None = None
) -> RuleProblem:
    message = error_message(exc)
    line = exc.source.line if exc.source else None
    col = exc.source.char if exc.source else None
    loc = SourceLocation(path, line, col) if line else locate(path, text, message, type(exc).__name__)
    rid = str(rule.id) if rule is not None and rule.id else None
    return RuleProblem("invalid", message, loc, rid, rule.title if rule is not None else None)


def error_message(exc: SigmaError) -> str:
    """pySigma's message without the ``in <path>`` suffix it appends (the location says it)."""
    text = str(exc)
    if exc.source is not None:
        suffix = " in " + str(exc.source)
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    return text


_QUOTED = re.compile(r"'([^']{1,200})'")


def _walk(node: yaml.Node) -> Iterable[tuple[yaml.Node, yaml.Node | None]]:
    """Yield (key node, value node) for mappings, (scalar, None) for list items, depth first."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield k, v
            yield from _walk(v)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            if isinstance(item, yaml.ScalarNode):
                yield item, None
            yield from _walk(item)


def locate(path: str, text: str, message: str, error_class: str | None) -> SourceLocation:
    """Best line/column for an error message in a rule's YAML text (1-based)."""
    try:
        docs = [d for d in yaml.compose_all(text) if d is not None] if text else []
    except yaml.YAMLError:
        docs = []
    if not docs:
        return SourceLocation(path, 1, 1)
    pairs = [p for d in docs for p in _walk(d)]

    def at(node: yaml.Node) -> SourceLocation:
        return SourceLocation(path, node.start_mark.line + 1, node.start_mark.column + 1)

    for token in _QUOTED.findall(message):
        for k, _v in pairs:
            if isinstance(k, yaml.ScalarNode) and str(k.value) == token:
                return at(k)
        for k, v in pairs:
            if isinstance(k, yaml.ScalarNode) and token in str(k.value):
                return at(k)
            if isinstance(v, yaml.ScalarNode) and token in str(v.value):
                return at(v)
    lowered = (message + " " + (error_class or "")).lower()
    for hint, key in (
        ("condition", "condition"),
        ("logsource", "logsource"),
        ("log source", "logsource"),
        ("timespan", "timespan"),
        ("group", "group-by"),
        ("correlation", "correlation"),
        ("identifier", "id"),
        ("uuid", "id"),
        ("status", "status"),
        ("level", "level"),
        ("date", "date"),
        ("tag", "tags"),
        ("title", "title"),
        ("detection", "detection"),
    ):
        if hint in lowered:
            for k, _ in pairs:
                if isinstance(k, yaml.ScalarNode) and k.value == key:
                    return at(k)
    if "modifier" in lowered or "value" in lowered or "regular expression" in lowered or "cidr" in lowered:
        for k, _ in pairs:
            if isinstance(k, yaml.ScalarNode) and "|" in str(k.value):
                return at(k)
    return SourceLocation(path, docs[0].start_mark.line + 1, docs[0].start_mark.column + 1)

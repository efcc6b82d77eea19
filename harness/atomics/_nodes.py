"""YAML node helpers: read composed nodes while keeping their line and column.

``yaml.compose`` keeps marks that ``safe_load`` throws away; these helpers turn nodes into Python
values on demand and collect every problem (with its location) in a :class:`Problems` list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.atomics.model import PLACEHOLDER_RE
from harness.errors import AtomicDefinitionError, ErrorCollection, HarnessError, SourceLocation

_CONSTRUCTOR = yaml.SafeLoader("")
# libyaml's composer is ~15x faster than the pure-Python one and keeps line and column marks.
_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Problems:
    """Problems found in one file, in the order found."""

    path: str
    errors: list[AtomicDefinitionError] = field(default_factory=list)
    text: str = ""
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def line_starts(self) -> list[int]:
        """Character offset of each line of ``text`` (computed once)."""
        if not self._line_starts:
            self._line_starts = [0, *(i + 1 for i, ch in enumerate(self.text) if ch == "\n")]
        return self._line_starts

    def at(self, node: yaml.Node | None) -> SourceLocation:
        if node is None:
            return SourceLocation(self.path)
        mark = node.start_mark
        return SourceLocation(self.path, mark.line + 1, mark.column + 1)

    def add(self, node: yaml.Node | None, message: str) -> None:
        self.errors.append(AtomicDefinitionError(message, self.at(node)))


def compose(path: str, text: str, problems: Problems) -> yaml.Node | None:
    """Compose ``text``; a syntax error is recorded with the parser's own mark."""
    problems.text = text
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(path, mark.line + 1, mark.column + 1) if mark else SourceLocation(path)
        problems.errors.append(AtomicDefinitionError(f"invalid YAML: {exc.problem or exc}", loc))
        return None


def value(node: yaml.Node) -> object:
    """The Python value of a node, built by PyYAML's safe constructor (tags resolved as usual)."""
    return _CONSTRUCTOR.construct_object(node, deep=True)


def mapping(node: yaml.Node | None, what: str, problems: Problems) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
    """A mapping node as ``{key: (key_node, value_node)}``; reports non-mappings and duplicate keys."""
    if not isinstance(node, yaml.MappingNode):
        problems.add(node, f"{what} must be a mapping")
        return None
    out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = value(key_node) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            problems.add(key_node, f"{what}: keys must be strings")
            continue
        if key in out:
            problems.add(key_node, f"{what}: duplicate key {key!r}")
            continue
        out[key] = (key_node, value_node)
    return out


def sequence(node: yaml.Node, what: str, problems: Problems) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.SequenceNode):
        problems.add(node, f"{what} must be a list")
        return None
    return list(node.value)


def check_keys(
    fields: dict[str, tuple[yaml.Node, yaml.Node]],
    node: yaml.Node,
    what: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    problems: Problems,
) -> None:
    """Report unknown keys (at the key) and missing required keys (at the mapping)."""
    allowed = set(required) | set(optional)
    for key, (key_node, _) in fields.items():
        if key not in allowed:
            problems.add(key_node, f"{what}: unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in fields:
            problems.add(node, f"{what}: missing required key {key!r}")


def string(
    node: yaml.Node, what: str, problems: Problems, *, min_length: int = 1, nullable: bool = False
) -> str | None:
    """A string scalar of at least ``min_length`` characters (``None`` if invalid or null+nullable)."""
    if not isinstance(node, yaml.ScalarNode):
        problems.add(node, f"{what} must be a string")
        return None
    got = value(node)
    if got is None and nullable:
        return None
    if not isinstance(got, str):
        problems.add(node, f"{what} must be a string, got {type(got).__name__}")
        return None
    if len(got) < min_length:
        problems.add(node, f"{what} must have at least {min_length} character(s)")
        return None
    return got


def strings(node: yaml.Node, what: str, problems: Problems) -> Iterator[tuple[yaml.Node, str]]:
    """The string items of a list node, each with its node; reports non-strings."""
    items = sequence(node, what, problems)
    for item in items or []:
        text = string(item, f"{what} item", problems)
        if text is not None:
            yield item, text


def find_in_node(node: yaml.Node, needle: str, problems: Problems, after: int = 0) -> tuple[int, int, int] | None:
    """(line, column, offset) of ``needle`` in the source text spanned by ``node``, searching from
    character offset ``after``; ``None`` when not found verbatim (escaped or folded scalars).

    Offsets are computed from the marks' line and column, which both composers count in characters.
    """
    text = problems.text
    if not text:
        return None
    starts = problems.line_starts()

    def offset(mark: yaml.Mark) -> int:
        return (starts[mark.line] if mark.line < len(starts) else len(text)) + mark.column

    begin = max(offset(node.start_mark), after)
    idx = text.find(needle, begin, offset(node.end_mark))
    if idx < 0:
        return None
    line = text.count("\n", 0, idx) + 1
    column = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return line, column, idx


def read(path: str | Path, problems: Problems) -> yaml.Node | None:
    """Read and compose one file; an unreadable, unparseable or empty file is recorded, located."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.errors.append(AtomicDefinitionError(f"cannot read file: {exc}", SourceLocation(str(path))))
        return None
    root = compose(str(path), text, problems)
    if root is None and not problems.errors:
        problems.add(None, "file is empty")
    return root


def raise_problems(problems: Problems) -> None:
    """Raise one ErrorCollection listing every problem recorded, if there is any."""
    if problems.errors:
        errors: list[HarnessError] = list(problems.errors)
        raise ErrorCollection(errors)


def placeholders(node: yaml.Node, problems: Problems) -> list[tuple[str, SourceLocation]]:
    """``#{name}`` uses in a scalar node, each located exactly in the file when the text allows."""
    text = value(node)
    if not isinstance(text, str):
        return []
    names = [m.group(1) for m in PLACEHOLDER_RE.finditer(text)]
    out: list[tuple[str, SourceLocation]] = []
    after = 0
    for name in names:
        where = problems.at(node)
        found = find_in_node(node, "#{" + name + "}", problems, after)
        if found is not None:
            line, column, after = found
            after += 1
            where = SourceLocation(problems.path, line, column)
        out.append((name, where))
    return out

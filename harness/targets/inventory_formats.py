"""The two file formats of Ansible inventories, read into an :class:`InventoryBuilder`.

INI: sections ``[group]`` (hosts), ``[group:vars]`` and ``[group:children]``; lines before the
first section are ungrouped hosts; host lines are shell-quoted ``NAME key=value ...``; values go
through :func:`ast.literal_eval` when they parse as Python literals, as ``ansible-inventory``
really does (in ``:vars`` sections too, whatever its documentation says).
YAML: nested ``hosts`` / ``vars`` / ``children`` mappings from top-level groups.
Host names may carry ``:port`` and ranges ``[01:03]``, ``[a:c]``, ``[0:10:2]``.

Where Ansible only warns and skips (a YAML key other than hosts/vars/children, a group that is not a
mapping), this reader refuses: a misspelt ``host:`` would otherwise drop hosts from a run silently.
"""

from __future__ import annotations

import ast
import re
import shlex
import string
import warnings
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError, SourceLocation
from harness.targets.inventory import Inventory, InventoryBuilder

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_PORT = re.compile(r"^(.+):(\d+)$")
YAML_SUFFIXES = (".yml", ".yaml", ".json")


def looks_like_yaml(path: str, text: str) -> bool:
    """Ansible picks the YAML reader by extension; other files are INI."""
    return path.lower().endswith(YAML_SUFFIXES)


def literal(text: str) -> Any:
    """A value as Ansible's INI reader makes it: a Python literal when it parses as one, else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is Ellipsis:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    return value


def expand_hosts(pattern: str, where: SourceLocation) -> tuple[list[str], int | None]:
    """``web[01:03]:2222`` -> (["web01", "web02", "web03"], 2222)."""
    port: int | None = None
    m = _PORT.match(pattern)
    if m and ":" not in re.sub(r"\[[^\]]*\]", "", m.group(1)):
        pattern, port = m.group(1), int(m.group(2))
    elif pattern.endswith(":"):
        raise ConfigError(f"invalid host pattern {pattern!r}: a trailing ':' must be followed by a port", where)
    if pattern.strip() == "---":
        raise ConfigError("invalid host pattern '---' (a YAML document in a file read as INI? "
                          "name YAML inventories .yml or .yaml)", where)
    return _expand(pattern, where), port


def _expand(name: str, where: SourceLocation) -> list[str]:
    if "[" not in name:
        return [name]
    head, _, rest = name.partition("[")
    body, sep, tail = rest.partition("]")
    if not sep:
        raise ConfigError(f"host range in {name!r} has no closing ']'", where)
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ConfigError(f"host range [{body}] must be begin:end or begin:end:step", where)
    beg, end = bounds[0] or "0", bounds[1]
    if not end:
        raise ConfigError(f"host range [{body}] has no end", where)
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError as exc:
        raise ConfigError(f"host range [{body}]: step must be an integer", where) from exc
    if step < 1:
        raise ConfigError(f"host range [{body}]: step must be at least 1", where)
    width = len(beg) if beg[0] == "0" and len(beg) > 1 else 0
    if width and width != len(end):
        raise ConfigError(f"host range [{body}]: zero-padded begin and end must have the same width", where)
    items: list[str]
    letters = string.ascii_letters
    if beg in letters and end in letters and len(beg) == len(end) == 1:
        if letters.index(beg) > letters.index(end):
            raise ConfigError(f"host range [{body}]: begin must not be after end", where)
        items = list(letters[letters.index(beg):letters.index(end) + 1:step])
    else:
        try:
            numbers = range(int(beg), int(end) + 1, step)
        except ValueError as exc:
            raise ConfigError(f"host range [{body}]: bounds must be numbers or single letters", where) from exc
        items = [str(n).zfill(width) for n in numbers]
    out: list[str] = []
    for item in items:
        out.extend(_expand(f"{head}{item}{tail}", where))
    return out


# --- INI ----------------------------------------------------------------------------------------
def read_ini(b: InventoryBuilder, text: str) -> None:
    group, state = "ungrouped", "hosts"
    declared = {"all", "ungrouped"}  # groups with a [g] or [g:children] section
    pending: dict[str, tuple[SourceLocation, str]] = {}  # group -> (first reference, what referred to it)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        indent = len(raw) - len(raw.lstrip())
        where = SourceLocation(b.path, number, indent + 1)
        m = _SECTION.match(line)
        if m:
            group, state = m.group(1), m.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise ConfigError(f"section [{group}:{state}] has an unknown type {state!r} "
                                  "(use hosts, children or vars)", where)
            b.add_group(group)
            if state == "vars":
                if group not in declared:
                    pending.setdefault(group, (where, f"[{group}:vars]"))
            else:
                declared.add(group)
                pending.pop(group, None)
            continue
        if line.startswith("["):
            raise ConfigError(f"invalid section header {line!r}: expected [group], [group:vars] or "
                              "[group:children] with no spaces", where)
        if state == "hosts":
            _ini_host(b, raw, line, group, where)
        elif state == "vars":
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"expected key=value in [{group}:vars], got {line!r}", where)
            b.set_group_var(group, key.strip(), literal(value.strip()))
        else:
            gm = _GROUP_NAME.match(line)
            if gm is None:
                raise ConfigError(f"expected a group name in [{group}:children], got {line!r}", where)
            child = gm.group(1)
            b.add_child(group, child, where)
            if child not in declared:
                pending.setdefault(child, (where, f"[{group}:children]"))
    for name, (where, what) in pending.items():
        if name not in declared:
            raise ConfigError(f"{what} refers to group {name!r}, which no [{name}] or [{name}:children] "
                              "section declares", where)


def _ini_host(b: InventoryBuilder, raw: str, line: str, group: str, where: SourceLocation) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise ConfigError(f"cannot split host line: {exc}", where) from exc
    if not tokens:
        return
    names, port = expand_hosts(tokens[0], where)
    values: dict[str, Any] = {}
    search = 0
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        col = raw.find(key, search)
        search = max(search, col)
        at = SourceLocation(b.path, where.line, (col + 1) if col >= 0 else where.column)
        if not sep or not key:
            raise ConfigError(f"expected key=value after the host name, got {token!r}", at)
        values[key] = literal(value)
    for name in names:
        b.add_host(name, group, where, port)
        b.set_host_vars(name, values)


# --- YAML ---------------------------------------------------------------------------------------
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSTRUCT = yaml.SafeLoader("")


def _at(b: InventoryBuilder, node: yaml.Node) -> SourceLocation:
    return SourceLocation(b.path, node.start_mark.line + 1, node.start_mark.column + 1)


def _value(node: yaml.Node) -> Any:
    return _CONSTRUCT.construct_object(node, deep=True)


def _pairs(b: InventoryBuilder, node: yaml.Node, what: str) -> list[tuple[yaml.Node, str, yaml.Node]]:
    """A mapping's (key node, key, value node) triples; a null node is an empty mapping."""
    if isinstance(node, yaml.ScalarNode) and _value(node) is None:
        return []
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{what} must be a mapping", _at(b, node))
    out = []
    seen: set[str] = set()
    for k, v in node.value:
        key = _value(k) if isinstance(k, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise ConfigError(f"{what}: keys must be strings (quote numbers)", _at(b, k))
        if key in seen:
            raise ConfigError(f"{what}: duplicate key {key!r}", _at(b, k))
        seen.add(key)
        out.append((k, key, v))
    return out


def read_yaml(b: InventoryBuilder, text: str) -> None:
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(b.path, mark.line + 1, mark.column + 1) if mark else SourceLocation(b.path)
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", loc) from exc
    if root is None:
        raise ConfigError("empty inventory", SourceLocation(b.path, 1, 1))
    groups = _pairs(b, root, "the inventory")
    if any(key == "plugin" for _, key, _ in groups):
        raise ConfigError("this is an inventory plugin configuration, not a YAML inventory", _at(b, root))
    for _, name, node in groups:
        _yaml_group(b, name, node)


def _yaml_group(b: InventoryBuilder, name: str, node: yaml.Node) -> None:
    b.add_group(name)
    for knode, key, value in _pairs(b, node, f"group {name}"):
        if key == "vars":
            for _, var, vnode in _pairs(b, value, f"{name}.vars"):
                b.set_group_var(name, var, _value(vnode))
        elif key == "children":
            for cnode, child, cvalue in _section(b, value, f"{name}.children"):
                _yaml_group(b, child, cvalue)
                b.add_child(name, child, _at(b, cnode))
        elif key == "hosts":
            for hnode, pattern, hvalue in _section(b, value, f"{name}.hosts"):
                names, port = expand_hosts(pattern, _at(b, hnode))
                values = {var: _value(v) for _, var, v in _pairs(b, hvalue, f"host {pattern}")}
                for host in names:
                    b.add_host(host, name, _at(b, hnode), port)
                    b.set_host_vars(host, values)
        else:
            raise ConfigError(f"group {name}: unknown key {key!r} (a group has hosts, vars and children)",
                              _at(b, knode))


def _section(b: InventoryBuilder, node: yaml.Node, what: str) -> list[tuple[yaml.Node, str, yaml.Node]]:
    """hosts/children: a mapping, or (as Ansible allows) one bare name."""
    if isinstance(node, yaml.ScalarNode):
        value = _value(node)
        if value is None:
            return []
        if not isinstance(value, str):
            raise ConfigError(f"{what}: a name must be a string (quote numbers)", _at(b, node))
        return [(node, value, yaml.ScalarNode("tag:yaml.org,2002:null", "", node.start_mark, node.end_mark))]
    return _pairs(b, node, what)


def load_inventory(path: str | Path) -> Inventory:
    """Read an INI or YAML inventory; any problem is a :class:`ConfigError` at file:line:column."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read inventory: {exc}", SourceLocation(where)) from exc
    builder = InventoryBuilder(where)
    if looks_like_yaml(where, text):
        read_yaml(builder, text)
    else:
        read_ini(builder, text)
    return builder.build()

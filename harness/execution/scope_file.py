"""``--scope FILE``: the declared scope of real hosts, in the lab config's ``[scope]`` format.

A real host is not the lab: the atomics' defaults point at the lab's simulated internet, so a run
against a host the harness did not build needs the ranges, domains and ASNs it may touch written
down. The file holds one ``[scope]`` table (``ranges`` required, ``domains`` and ``asns``
optional), exactly as in a lab config. Every problem is a located error.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, ScopeError, SourceLocation
from harness.execution.scope import Scope
from harness.lab.config import parse_toml

_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class _Locator:
    """Line and column of a key or value in the TOML text (tomllib keeps no positions)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def key(self, key: str) -> SourceLocation:
        for i, line in enumerate(self.lines):
            m = re.match(rf"(\s*){re.escape(key)}\s*=", line)
            if m:
                return SourceLocation(self.path, i + 1, len(m.group(1)) + 1)
        return SourceLocation(self.path)

    def find(self, needle: str, key: str | None = None) -> SourceLocation:
        start = 0
        if key is not None:
            for i, line in enumerate(self.lines):
                if re.match(rf"\s*{re.escape(key)}\s*=", line):
                    start = i
                    break
        for i in range(start, len(self.lines)):
            col = self.lines[i].find(needle)
            if col >= 0:
                return SourceLocation(self.path, i + 1, col + 1)
        return SourceLocation(self.path)


def load_scope_file(path: str | Path) -> Scope:
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read scope file: {exc}", SourceLocation(where)) from exc
    doc = parse_toml(text, where)
    loc = _Locator(where, text)
    table = doc.get("scope")
    if not isinstance(table, dict):
        raise ConfigError("a scope file needs a [scope] table (ranges = [...], domains = [...], asns = [...])",
                          SourceLocation(where, 1, 1))
    for key in table:
        if key not in ("ranges", "domains", "asns"):
            raise ConfigError(f"scope: unknown key {key!r} (allowed: ranges, domains, asns)", loc.key(key))
    ranges = tuple(_range(v, loc) for v in _list(table, "ranges", loc, required=True))
    domains = tuple(_domain(v, loc) for v in _list(table, "domains", loc))
    asns = tuple(_asn(v, loc) for v in _list(table, "asns", loc))
    return Scope(ranges=ranges, domains=domains, asns=asns, service_hosts=())


def _list(table: Mapping[str, Any], key: str, loc: _Locator, required: bool = False) -> list[Any]:
    if key not in table:
        if required:
            raise ConfigError(f"scope.{key} is required (a list of IPv4 networks)", loc.find("[scope]"))
        return []
    value = table[key]
    if not isinstance(value, list):
        raise ConfigError(f"scope.{key} must be a list", loc.key(key))
    if required and not value:
        raise ConfigError(f"scope.{key} must not be empty", loc.key(key))
    return value


def _range(value: Any, loc: _Locator) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError as exc:
        raise ConfigError(f"scope.ranges: not an IPv4 network: {value!r} ({exc})",
                          loc.find(str(value), "ranges")) from exc
    if net.prefixlen == 0:
        raise ConfigError("scope.ranges: 0.0.0.0/0 is not a scope", loc.find(str(value), "ranges"))
    return net


def _domain(value: Any, loc: _Locator) -> str:
    name = str(value).lower().rstrip(".")
    if not isinstance(value, str) or not _DOMAIN.match(name):
        raise ConfigError(f"scope.domains: not a domain name: {value!r}", loc.find(str(value), "domains"))
    return name


def _asn(value: Any, loc: _Locator) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**32:
        raise ConfigError(f"scope.asns: not an AS number: {value!r}", loc.find(str(value), "asns"))
    return value


def check_arguments(scope: Scope, args: Mapping[str, str], target: str) -> None:
    """Refuse argument values (addresses, ranges, URLs, domain names) outside ``target``'s scope."""
    problems: list[str] = []
    for name, value in args.items():
        problems += scope.violations(value, {name: value})
    if problems:
        raise ScopeError(f"atomic arguments for {target} leave its scope: " + "; ".join(sorted(set(problems))))

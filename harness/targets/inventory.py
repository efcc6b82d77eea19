"""Ansible inventories (INI or YAML) as a fleet of targets: hosts, groups and their variables.

A small reader of Ansible's documented inventory format, written from the documentation and checked
against what ``ansible-inventory --list`` prints for the same files (tests/data/inventory/);
ansible-core itself is GPL-3 and is not imported. Variables resolve as Ansible resolves them: a
host's groups are merged in (depth, ``ansible_group_priority``, name) order, the host's own vars last.

A host becomes an ``ssh://`` target from ``ansible_host``, ``ansible_user``, ``ansible_port`` and
``ansible_ssh_private_key_file``; variables named ``atomic_arg_<NAME>`` set atomic argument NAME
for that host (flat names, so that group and host values merge per argument as Ansible merges vars).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from harness.errors import ConfigError, SourceLocation

ARG_PREFIX = "atomic_arg_"
PRIORITY_VAR = "ansible_group_priority"  # consumed by Ansible as the group's priority, not a var


@dataclass(frozen=True)
class InventoryGroup:
    name: str
    hosts: tuple[str, ...]  # direct members, in declaration order
    children: tuple[str, ...]
    vars: Mapping[str, Any]
    depth: int  # longest path from ``all`` (Ansible's merge order)
    priority: int


@dataclass(frozen=True)
class InventoryHost:
    name: str
    vars: Mapping[str, Any]  # resolved: every group's vars, then the host's own
    groups: tuple[str, ...]  # every group the host is in, ancestors and ``all`` included
    location: SourceLocation  # where the host was first declared

    @property
    def address(self) -> str:
        return str(self.vars.get("ansible_host") or self.name)

    def target_url(self) -> str:
        """``ssh://user@host:port?identity_file=...`` for this host (``ansible_host_key_checking=false``
        becomes ``accept_unknown_host_key=true``)."""
        user = self.vars.get("ansible_user")
        port = self.vars.get("ansible_port")
        address = self.address
        netloc = f"[{address}]" if ":" in address else address
        if user:
            netloc = f"{quote(str(user), safe='')}@{netloc}"
        if port not in (None, ""):
            netloc += f":{_port(port, self)}"
        url = f"ssh://{netloc}"
        options: list[str] = []
        key = self.vars.get("ansible_ssh_private_key_file") or self.vars.get("ansible_private_key_file")
        if key:
            options.append("identity_file=" + quote(str(key), safe="/~.-_"))
        checking = self.vars.get("ansible_ssh_host_key_checking", self.vars.get("ansible_host_key_checking"))
        if checking is not None and str(checking).strip().lower() in ("false", "no", "0", "off"):
            # Ansible's way to skip host key checking; here it is trust on first use, recorded in the facts.
            options.append("accept_unknown_host_key=true")
        return url + ("?" + "&".join(options) if options else "")

    def atomic_args(self) -> dict[str, str]:
        """Atomic arguments set for this host by ``atomic_arg_<NAME>`` vars."""
        out: dict[str, str] = {}
        for key, value in self.vars.items():
            if not key.startswith(ARG_PREFIX) or len(key) == len(ARG_PREFIX):
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, (str, int, float)):
                text = str(value)
            else:
                raise ConfigError(f"host {self.name}: {key} must be a string or number, got "
                                  f"{type(value).__name__}", self.location)
            out[key[len(ARG_PREFIX):]] = text
        return out


@dataclass(frozen=True)
class Inventory:
    path: str
    groups: Mapping[str, InventoryGroup]  # declaration order; ``all`` and ``ungrouped`` first
    hosts: Mapping[str, InventoryHost]  # declaration order

    def group_hosts(self, name: str) -> list[InventoryHost]:
        """The hosts of ``name`` and of its descendants, each once, in Ansible's order."""
        if name not in self.groups:
            known = ", ".join(g for g in self.groups)
            raise ConfigError(f"no group {name!r} in the inventory (groups: {known})", SourceLocation(self.path))
        seen: dict[str, None] = {}

        def walk(group: str) -> None:
            g = self.groups[group]
            for child in g.children:
                walk(child)
            for h in g.hosts:
                seen.setdefault(h, None)

        walk(name)
        if name == "all":  # Ansible lists every host for ``all``, declaration order
            return list(self.hosts.values())
        return [self.hosts[h] for h in seen]

    def to_ansible_list(self) -> dict[str, Any]:
        """The document ``ansible-inventory --list`` prints (without ``_meta.profile``)."""
        out: dict[str, Any] = {}
        done: set[str] = set()

        def fmt(name: str) -> None:
            g = self.groups[name]
            entry: dict[str, Any] = {}
            if name != "all" and g.hosts:
                entry["hosts"] = list(g.hosts)
            if g.children:
                entry["children"] = list(g.children)
            if entry:
                out[name] = entry
            for child in g.children:
                if child not in done:
                    done.add(child)
                    fmt(child)

        fmt("all")
        out["_meta"] = {"hostvars": {h.name: dict(h.vars) for h in self.hosts.values() if h.vars}}
        return out


def _port(value: Any, host: InventoryHost) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = -1
    if not 0 < port < 65536:
        raise ConfigError(f"host {host.name}: ansible_port must be 1-65535, got {value!r}", host.location)
    return port


@dataclass
class _Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    depth: int = 0


@dataclass
class _Host:
    name: str
    location: SourceLocation
    vars: dict[str, Any] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


class InventoryBuilder:
    """Mutable inventory filled by the format readers, then resolved into an :class:`Inventory`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.groups: dict[str, _Group] = {}
        self.hosts: dict[str, _Host] = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped", SourceLocation(path))

    def add_group(self, name: str) -> None:
        self.groups.setdefault(name, _Group(name))

    def add_child(self, parent: str, child: str, where: SourceLocation) -> None:
        self.add_group(parent)
        self.add_group(child)
        p, c = self.groups[parent], self.groups[child]
        if child in p.children:
            return
        if child == parent or parent in self._descendants(child):
            raise ConfigError(f"group {child!r} cannot be a child of {parent!r}: that makes a cycle", where)
        p.children.append(child)
        c.parents.append(parent)
        self._deepen(c, p.depth + 1)

    def _descendants(self, name: str) -> set[str]:
        out: set[str] = set()
        todo = [name]
        while todo:
            for ch in self.groups[todo.pop()].children:
                if ch not in out:
                    out.add(ch)
                    todo.append(ch)
        return out

    def _deepen(self, group: _Group, depth: int) -> None:
        if depth <= group.depth:
            return
        group.depth = depth
        for ch in group.children:
            self._deepen(self.groups[ch], depth + 1)

    def add_host(self, name: str, group: str, where: SourceLocation, port: int | None = None) -> None:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = _Host(name, where)
        self.add_group(group)
        g = self.groups[group]
        if name not in g.hosts:
            g.hosts.append(name)
            host.groups.append(group)
        if port is not None:
            host.vars["ansible_port"] = port

    def set_host_vars(self, name: str, values: Mapping[str, Any]) -> None:
        self.hosts[name].vars.update(values)

    def set_group_var(self, group: str, key: str, value: Any) -> None:
        self.add_group(group)
        self.groups[group].vars[key] = value

    def build(self) -> Inventory:
        # Ansible's reconcile step: top-level groups hang under ``all``; hosts in no group are ``ungrouped``.
        for name in list(self.groups):
            if name != "all" and not self.groups[name].parents:
                self.add_child("all", name, SourceLocation(self.path))
        ungrouped = self.groups["ungrouped"]
        for host in self.hosts.values():
            others = [g for g in host.groups if g not in ("all", "ungrouped")]
            if others and "ungrouped" in host.groups:
                ungrouped.hosts.remove(host.name)
                host.groups.remove("ungrouped")
            elif not others and "ungrouped" not in host.groups:
                ungrouped.hosts.append(host.name)
                host.groups.append("ungrouped")
        groups = {n: self._freeze_group(g) for n, g in self.groups.items()}
        hosts = {n: self._resolve(h, groups) for n, h in self.hosts.items()}
        return Inventory(self.path, groups, hosts)

    def _freeze_group(self, g: _Group) -> InventoryGroup:
        values = dict(g.vars)
        raw = values.pop(PRIORITY_VAR, 1)
        try:
            priority = int(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"group {g.name}: {PRIORITY_VAR} must be an integer, got {raw!r}",
                              SourceLocation(self.path)) from exc
        return InventoryGroup(g.name, tuple(g.hosts), tuple(g.children), values, g.depth, priority)

    def _ancestors(self, names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name not in out:
                out.add(name)
                todo.extend(self.groups[name].parents)
        return out

    def _resolve(self, h: _Host, groups: Mapping[str, InventoryGroup]) -> InventoryHost:
        mine = [groups[n] for n in self._ancestors([*h.groups, "all"])]
        values: dict[str, Any] = {}
        for g in sorted(mine, key=lambda g: (g.depth, g.priority, g.name)):
            values.update(g.vars)
        values.update(h.vars)
        names = tuple(g.name for g in sorted(mine, key=lambda g: (g.depth, g.name)))
        return InventoryHost(h.name, values, names, h.location)

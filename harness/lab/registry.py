"""The labs, chosen by name (``harness lab --lab NAME``) or by the scheme of a target URL, through a
lazy registry like the targets': a lab's module is imported only when that lab is used."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.collection import CollectionPlan, Shell
from harness.errors import ConfigError
from harness.lab.config import LabConfig
from harness.lab.state import LabState

#: lab name -> "module:Class"
LABS: dict[str, str] = {
    "embedded": "harness.lab.embedded:EmbeddedLab",
    "vagrant": "harness.lab.vagrant:VagrantLab",
}

#: target URL scheme -> the lab behind targets of that scheme (other schemes have none).
SCHEME_LABS: dict[str, str] = {
    "netns": "embedded",
    "vagrant": "vagrant",
}


@dataclass(frozen=True)
class LabStatus:
    """What ``harness lab status`` reports of any lab."""

    up: bool
    problems: tuple[str, ...]
    info: dict[str, Any]


class Lab(Protocol):
    """What the CLI and a run session need of any lab."""

    @property
    def home_dir(self) -> Path: ...

    def up(self) -> object: ...

    def up_report(self) -> tuple[dict[str, Any], str]: ...

    def down(self) -> list[str]: ...

    def purge(self) -> list[str]: ...

    def status(self) -> LabStatus: ...

    def status_line(self, status: LabStatus) -> str: ...

    def collection(self, secrets: list[str], proxy_mode: str = "transparent") -> CollectionPlan: ...

    def proxy_credentials(self) -> tuple[str, str]: ...

    def ledger(self) -> LabState | None: ...


class LabClass(Protocol):
    """A lab class: built from a config (``harness lab``), or for a run session's target."""

    @property
    def BUILT_BY_SESSION(self) -> bool: ...

    def __call__(self, config: LabConfig) -> Lab: ...

    def for_session(self, config: LabConfig, target: Shell | None = None) -> Lab: ...


def lab_class(name: str) -> LabClass:
    """The class of lab ``name`` (imported now)."""
    spec = LABS.get(name)
    if spec is None:
        raise ConfigError(f"unknown lab {name!r}; known: {', '.join(sorted(LABS))}")
    module_name, _, class_name = spec.partition(":")
    cls: LabClass = getattr(importlib.import_module(module_name), class_name)
    return cls


def lab_for_scheme(scheme: str) -> str | None:
    """The name of the lab behind targets of ``scheme``, or None for a host that is no lab."""
    return SCHEME_LABS.get(scheme)

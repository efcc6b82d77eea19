"""The rule options ``sigma check``, ``sigma match`` and ``sigma scan`` share."""

from __future__ import annotations

import argparse

from harness.errors import ConfigError


def add_rule_options(p: argparse.ArgumentParser) -> None:
    """The rules and how they are loaded (``check``, ``match``, ``scan``)."""
    p.add_argument("rules", nargs="+", help="rule files or directories")
    p.add_argument("--pipeline", action="append", default=[], help="processing pipeline YAML")
    p.add_argument(
        "--placeholder",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="values of an %%NAME%% placeholder (expand modifier)",
    )


def placeholders(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--placeholder wants NAME=V1,V2, got {item!r}")
        out.setdefault(name.strip("%"), []).extend(v for v in values.split(",") if v)
    return out

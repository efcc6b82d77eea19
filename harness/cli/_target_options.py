"""The target options ``harness run`` and ``harness nightly`` share (harness.execution.fleet reads them)."""

from __future__ import annotations

import argparse

from harness.execution.session import DEFAULT_TARGET


def add_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", action="append", default=None,
                   help=f"target URL (repeatable; default {DEFAULT_TARGET})")
    p.add_argument("--inventory", metavar="FILE", default=None,
                   help="Ansible inventory (INI or YAML): its hosts (or --target-group's) become ssh:// targets")
    p.add_argument("--target-group", action="append", default=[], metavar="NAME",
                   help="the hosts of this inventory group (repeatable; needs --inventory)")
    p.add_argument("--scope", metavar="FILE", default=None,
                   help="declared scope of real hosts ([scope] table as in a lab config); required for ssh://")

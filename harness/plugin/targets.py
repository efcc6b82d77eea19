"""The plugin's targets: ``--target`` (repeatable), ``--inventory FILE``, ``--target-group NAME``,
``--scope FILE``, resolved once per session by :func:`harness.execution.fleet.resolve_targets`.

Kept apart from the plugin's other options so that its import stays light: nothing here imports the
targets, the lab or the engines until a session asks for its targets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.execution.fleet import TargetSpec

_SPECS_KEY = pytest.StashKey[list["TargetSpec"]]()


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption("--inventory", dest="harness_inventory", default=None, metavar="FILE",
                    help="Ansible inventory (INI or YAML): every host, or those of --target-group, becomes an "
                         "ssh:// target; atomic_arg_<NAME> vars set atomic arguments per host")
    group.addoption("--target-group", dest="harness_target_groups", action="append", default=[], metavar="NAME",
                    help="run on the hosts of this inventory group (repeatable; needs --inventory)")
    group.addoption("--scope", dest="harness_scope", default=None, metavar="FILE",
                    help="declared scope of real hosts (a [scope] table as in a lab config: ranges, domains, "
                         "asns); required for ssh:// targets, whose every atomic argument is checked against it")


def fleet_requested(config: pytest.Config) -> bool:
    opt = config.getoption
    return bool(opt("harness_inventory", None) or opt("harness_target_groups", None) or opt("harness_scope", None)
                or len(opt("harness_target", None) or []) > 1
                or any(str(t).startswith("ssh://") for t in opt("harness_target", None) or []))


def target_specs(config: pytest.Config) -> list[TargetSpec]:
    """The session's :class:`~harness.execution.fleet.TargetSpec` list (resolved once); a problem is a
    usage error before anything runs."""
    if _SPECS_KEY in config.stash:
        return config.stash[_SPECS_KEY]
    from harness.errors import HarnessError
    from harness.execution.fleet import resolve_targets

    opt = config.getoption
    from harness.atomics.arguments import arguments_per_test
    from harness.atomics.loader import default_technique_path, load_technique

    cli = cli_atomic_args(config)
    try:
        specs = resolve_targets(
            list(opt("harness_target", None) or []),
            inventory=opt("harness_inventory", None),
            groups=list(opt("harness_target_groups", None) or []),
            scope_file=opt("harness_scope", None),
            cli_args=cli,
        )
        tests = load_technique(default_technique_path()).atomic_tests
        for spec in specs:  # each target's arguments: names and types, as --atomic-arg's
            try:
                arguments_per_test(tests, spec.arguments(cli))
            except HarnessError as exc:
                raise HarnessError(f"{spec.label}: {exc}") from exc
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[_SPECS_KEY] = specs
    return specs


def target_labels(config: pytest.Config) -> list[str]:
    """The labels test ids show, without resolving anything for a plain single-target run."""
    if not fleet_requested(config):
        from harness.plugin import _default_target

        targets = config.getoption("harness_target", None) or []
        return [str(targets[0]) if targets else _default_target()]
    return [s.label for s in target_specs(config)]


def spec_for(config: pytest.Config, label: str) -> TargetSpec:
    from harness.execution.fleet import TargetSpec

    if not fleet_requested(config):
        return TargetSpec(label, label)
    return next(s for s in target_specs(config) if s.label == label)


def cli_atomic_args(config: pytest.Config) -> dict[str, str]:
    """``--atomic-arg NAME=VALUE`` (checked): applies to every target, over inventory vars."""
    from harness.plugin import _atomic_args

    return _atomic_args(config)

"""The targets of one run: ``--target`` URLs, inventory hosts (``--inventory``, ``--target-group``),
each with its own atomic arguments and scope, resolved and checked before anything runs.

Arguments merge as Ansible's ``-e`` does: an atomic's default, then the inventory's
``atomic_arg_<NAME>`` vars of the host, then the command line (``--arg`` / ``--atomic-arg``), which
applies to every target. A real host (``ssh://``) has no lab behind it, so it needs a declared scope
(``--scope FILE``), which replaces the lab's; every argument value of a target is checked against
that target's scope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.errors import ConfigError, HarnessError
from harness.execution.scope import Scope

#: Schemes whose target is a lab the harness built (its scope is the lab config's).
LAB_SCHEMES = ("netns", "vagrant")
#: Schemes that reach a host the harness did not build: a declared scope is required.
REAL_HOST_SCHEMES = ("ssh",)


@dataclass(frozen=True)
class TargetSpec:
    """One target of a run."""

    label: str  # what test ids and reports show: the URL, or ssh://<inventory host name>
    url: str  # how to reach it
    args: Mapping[str, str] = field(default_factory=dict)  # per-target atomic arguments (inventory vars)
    scope: Scope | None = None  # the declared scope of a real host; None: the lab config's

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0]

    def arguments(self, cli: Mapping[str, str] | None = None) -> dict[str, str]:
        """This target's argument overrides: inventory vars, then the command line's."""
        return {**self.args, **(cli or {})}


def needs_declared_scope(url: str) -> bool:
    return url.partition("://")[0] in REAL_HOST_SCHEMES


def resolve_targets(
    targets: Sequence[str] = (),
    *,
    inventory: str | None = None,
    groups: Sequence[str] = (),
    scope_file: str | None = None,
    cli_args: Mapping[str, str] | None = None,
    lab_config: str | None = None,
    default: str | None = None,
) -> list[TargetSpec]:
    """Every target of the run, in order, each once; raises before anything runs when the run
    cannot be allowed (no scope for a real host, an argument outside a target's scope)."""
    from harness.execution.scope_file import check_arguments, load_scope_file
    from harness.targets.base import parse_target_url

    if groups and not inventory:
        raise ConfigError("--target-group needs --inventory FILE")
    declared = load_scope_file(scope_file) if scope_file else None
    specs: dict[str, TargetSpec] = {}
    for url in targets:
        parse_target_url(url)  # a URL that cannot parse is refused here, before anything runs
        specs.setdefault(url, TargetSpec(url, url))
    if inventory:
        from harness.targets.inventory_formats import load_inventory

        inv = load_inventory(inventory)
        hosts = [h for g in (groups or ["all"]) for h in inv.group_hosts(g)]
        for h in hosts:
            label = f"ssh://{h.name}"
            specs.setdefault(label, TargetSpec(label, h.target_url(), h.atomic_args()))
    if not specs:
        url = default or "netns://rah"
        specs[url] = TargetSpec(url, url)
    lab_scope: Scope | None = None
    out: list[TargetSpec] = []
    for spec in specs.values():
        if needs_declared_scope(spec.url):
            if declared is None:
                raise ConfigError(
                    f"{spec.label} is a real host, not a lab: a run against it needs a declared scope "
                    "(--scope FILE with a [scope] table of ranges, domains and asns, as in a lab config); "
                    "the atomics' defaults point at the lab's simulated internet")
            spec = TargetSpec(spec.label, spec.url, spec.args, declared)
            scope = declared
        else:
            if lab_scope is None:
                from harness.lab.config import load_lab_config

                lab_scope = Scope.from_lab(load_lab_config(lab_config))
            scope = lab_scope
        try:
            check_arguments(scope, spec.arguments(cli_args), spec.label)
        except HarnessError as exc:
            raise ConfigError(str(exc)) from exc
        out.append(spec)
    return out

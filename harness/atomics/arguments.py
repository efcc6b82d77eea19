"""Input-argument overrides given on a command line (``harness run --arg``, ``pytest --atomic-arg``).

One set of ``NAME=VALUE`` overrides is shared by every selected atomic: each atomic receives the
names it declares. A name that no selected atomic declares is a typo, not something to ignore
(the atomic would silently run with its default), so it is an error that lists the known names,
raised before anything runs; so is a value of the wrong type for any atomic that declares it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from harness.atomics.model import AtomicTest
from harness.errors import ConfigError


def parse_assignments(items: Iterable[str], option: str) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; ConfigError naming ``option`` otherwise."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{option} expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value
    return out


def arguments_per_test(tests: Sequence[AtomicTest], overrides: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """The overrides each test declares, by test id, checked (names and types) before any runs."""
    declared = {name for test in tests for name in test.input_arguments}
    unknown = sorted(set(overrides) - declared)
    if unknown:
        ids = ", ".join(t.id for t in tests) or "none"
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, declared, n=1)
            hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
        raise ConfigError(
            f"unknown atomic argument {', '.join(hints)}: no selected atomic ({ids}) declares it; "
            f"known: {', '.join(sorted(declared)) or 'none'}"
        )
    per_test: dict[str, dict[str, str]] = {}
    for test in tests:
        mine = {k: v for k, v in overrides.items() if k in test.input_arguments}
        test.arguments(mine)  # a value of the wrong type (integer given "abc") raises here
        per_test[test.id] = mine
    return per_test


#: where the atomics' default outputs go; another embedded lab instance on the same filesystem gets
#: its own names there (harness.lab.instances)
SHARED_OUTPUT_PREFIX = "/tmp/atomic-"


def instance_outputs(tests: Sequence[AtomicTest], per_test: Mapping[str, Mapping[str, str]],
                     instance: str) -> dict[str, dict[str, str]]:
    """``per_test`` plus, for lab instance ``instance``, every path argument left at a default under
    ``/tmp/atomic-`` renamed ``/tmp/atomic-<instance>-...``: two labs sharing one filesystem never
    write (or clean up) each other's outputs. An explicit override stays as given."""
    out = {tid: dict(args) for tid, args in per_test.items()}
    for test in tests:
        mine = out.setdefault(test.id, {})
        for name, arg in test.input_arguments.items():
            default = arg.default_text()
            if arg.type.lower() == "path" and name not in mine and default.startswith(SHARED_OUTPUT_PREFIX):
                mine[name] = f"{SHARED_OUTPUT_PREFIX}{instance}-{default[len(SHARED_OUTPUT_PREFIX):]}"
    return out

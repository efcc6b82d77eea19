"""The ``harness`` console script.

Subcommands are found by convention: every module in this package that defines
``register(subparsers)`` adds its own subcommand(s); the handler is stored as the
``func`` default and returns the process exit code. A module that fails to import becomes a
placeholder subcommand of its name that reports the error; the others keep working.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from harness import __version__
from harness.errors import HarnessError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception as exc:  # one broken subcommand must not take the others down
            _unavailable(subparsers, info.name, exc)
            continue
        register = getattr(module, "register", None)
        if callable(register):
            register(subparsers)
    return parser


def _unavailable(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, exc: Exception) -> None:
    """A placeholder for a subcommand module that failed to import: says why when used."""
    reason = f"{type(exc).__name__}: {exc}"
    p = subparsers.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def fail(args: argparse.Namespace) -> int:
        print(f"harness: error: the '{name}' subcommand cannot load ({reason})", file=sys.stderr)
        return 2

    p.set_defaults(func=fail)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        rc = func(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``harness target cleanup URL``: undo what a killed run left on a target the harness did not build.

Every run records, before each step, what it leaves on its target (each detonation's pending
cleanup and scratch dir) and on this host (temp dirs) in the target's ledger
(``harness.lab.state.target_state``). A run that ends normally leaves the ledger empty; after a
crash this command runs what is left, on the target, and forgets each entry that succeeded.
"""

from __future__ import annotations

import argparse
import json

from harness.errors import HarnessError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("target", help="clean up what a killed run left on a target")
    p.add_argument("action", choices=["cleanup", "status"],
                   help="cleanup: run pending cleanups and remove recorded files; status: list them")
    p.add_argument("url", help="the target URL the run used (ssh://user@host:port?identity_file=..., local://)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def cleanup_target(url: str) -> tuple[list[str], list[str]]:
    """Undo the ledger of ``url``: target-side entries over the target's shell, host temp dirs here."""
    from harness.lab import teardown
    from harness.lab.state import target_state
    from harness.targets.base import get_target

    if url.startswith("netns://"):
        from harness.lab.config import load_lab_config
        from harness.lab.embedded import EmbeddedLab

        return EmbeddedLab(load_lab_config()).down(), []
    state = target_state(url)
    done: list[str] = []
    errors: list[str] = []
    if any(r.kind in teardown.TARGET_KINDS for r in state.resources):
        target = get_target(url)
        try:
            def run(command: str, shell: str) -> tuple[int, str]:
                res = target.run(command, timeout=60, shell=shell if shell in ("sh", "bash") else "sh")
                return res.rc, res.stdout + res.stderr

            done, errors = teardown.undo_target_entries(state, run)
        except HarnessError as exc:
            errors.append(f"{url}: {exc}")
        finally:
            target.close()
    for res in reversed(list(state.resources)):
        if res.kind in teardown.TARGET_KINDS:
            continue
        try:
            msg = teardown.undo(res)
        except OSError as exc:
            errors.append(f"{res.kind} {res.name}: {exc}")
            continue
        state.discard(res)
        if msg:
            done.append(msg)
    return done, errors


def _main(args: argparse.Namespace) -> int:
    from harness.lab.state import target_state

    if args.action == "status":
        state = target_state(args.url)
        rows = [{"kind": r.kind, "name": r.name} for r in state.resources]
        print(json.dumps({"pending": rows}) if args.json else
              ("\n".join(f"{r['kind']} {r['name']}" for r in rows) or "nothing pending"))
        return 0
    done, errors = cleanup_target(args.url)
    if args.json:
        print(json.dumps({"removed": done, "errors": errors}))
    else:
        print("removed:\n  " + "\n  ".join(done) if done else "nothing to remove")
        for e in errors:
            print(f"error: {e}")
    return 1 if errors else 0

"""``harness lab up|down|status|purge [--lab embedded|vagrant]``: a lab's lifecycle."""

from __future__ import annotations

import argparse
import json

from harness.errors import ConfigError
from harness.lab.config import load_lab_config
from harness.lab.instances import instance_config
from harness.lab.registry import LABS, lab_class

#: Scripts test `harness lab status` (`harness lab status || harness lab up`): down is not an error
#: of the command, but it must be told apart from up without parsing the text.
EXIT_CODES = """\
exit status:
  status     0 the lab is up and healthy; 1 it is down, or up with problems (listed, and in --json);
             2 an error (bad lab config, ...)
  up, down, purge
             0 done; 2 an error (the message says what failed)"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "lab", help="create, inspect or destroy the embedded lab", epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["up", "down", "status", "purge"],
                   help="up: build (and provision once); down: remove everything; purge: also drop the tool cache")
    p.add_argument("--lab", default="embedded", choices=list(LABS),
                   help="which lab (default: embedded; vagrant: the libvirt lab VM, see docs/vagrant.md)")
    p.add_argument("--lab-config", metavar="TOML", help="lab config file (default: the packaged safe defaults)")
    p.add_argument("--name", metavar="NAME",
                   help="another embedded lab beside the configured one (own namespaces, transit /30, state "
                        "and lock), reached as netns://NAME; host-wide sensors are shared until the last is down")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    cfg = load_lab_config(args.lab_config)
    if args.name:
        if args.lab != "embedded":
            raise ConfigError("--name: only the embedded lab has instances")
        # an instance that is up is found by its state; one that is not gets a free transit /30
        # (only `up` creates anything with it: down and status of a lab that is down find nothing)
        cfg = instance_config(cfg, args.name, allocate=True)
    lab = lab_class(args.lab)(cfg)
    if args.action == "up":
        out, text = lab.up_report()
        print(json.dumps(out) if args.json else text)
        return 0
    if args.action in ("down", "purge"):
        removed = lab.purge() if args.action == "purge" else lab.down()
        print(json.dumps({"removed": removed}) if args.json else
              ("removed:\n  " + "\n  ".join(removed) if removed else "nothing to remove"))
        return 0
    status = lab.status()
    if args.json:
        print(json.dumps({"up": status.up, "problems": list(status.problems), "info": status.info}))
    else:
        print(lab.status_line(status))
        for problem in status.problems:
            print(f"  {problem}")
    return 0 if status.up else 1

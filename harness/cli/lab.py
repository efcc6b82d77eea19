"""``harness lab up|down|status|purge``: the embedded lab's lifecycle."""

from __future__ import annotations

import argparse
import json
import shutil
import time

from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab, require_root


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("lab", help="create, inspect or destroy the embedded lab")
    p.add_argument("action", choices=["up", "down", "status", "purge"],
                   help="up: build (and provision once); down: remove everything; purge: also drop the tool cache")
    p.add_argument("--lab", default="embedded", choices=["embedded", "vagrant"],
                   help="which lab (default: embedded; vagrant: the libvirt lab VM, see docs/vagrant.md)")
    p.add_argument("--lab-config", metavar="TOML", help="lab config file (default: the packaged safe defaults)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.lab == "vagrant":
        from harness.lab.vagrant import main_cli

        return main_cli(args.action, load_lab_config(args.lab_config), as_json=args.json)
    lab = EmbeddedLab(load_lab_config(args.lab_config))
    if args.action == "up":
        t0 = time.monotonic()
        state = lab.up()
        out = {"lab": lab.cfg.name, "target": lab.target_url(), "ssh": lab.ssh_url(),
               "up_seconds": state.info.get("up_seconds"), "total_seconds": round(time.monotonic() - t0, 3)}
        print(json.dumps(out) if args.json else
              f"lab {lab.cfg.name} is up in {out['up_seconds']}s (target {out['target']}, {out['ssh']})")
        return 0
    if args.action in ("down", "purge"):
        removed = lab.down()
        if args.action == "purge":
            require_root("harness lab purge")
            if lab.cfg.cache_dir.exists():
                shutil.rmtree(lab.cfg.cache_dir)
                removed.append(f"dir {lab.cfg.cache_dir}")
        print(json.dumps({"removed": removed}) if args.json else
              ("removed:\n  " + "\n  ".join(removed) if removed else "nothing to remove"))
        return 0
    status = lab.status()
    if args.json:
        print(json.dumps({"up": status.up, "problems": list(status.problems), "info": status.info}))
    else:
        print(f"lab {lab.cfg.name}: {'up' if status.up else 'down'}")
        for problem in status.problems:
            print(f"  {problem}")
    return 0 if status.up else 1

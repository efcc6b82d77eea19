"""``harness lab up|down|status|purge [--lab embedded|vagrant]``: a lab's lifecycle."""

from __future__ import annotations

import argparse
import json
import shutil
import time
from typing import Any

from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab, require_root

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
    p.add_argument("--lab", default="embedded", choices=["embedded", "vagrant"],
                   help="which lab (default: embedded; vagrant: the libvirt lab VM, see docs/vagrant.md)")
    p.add_argument("--lab-config", metavar="TOML", help="lab config file (default: the packaged safe defaults)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    cfg = load_lab_config(args.lab_config)
    lab: Any
    if args.lab == "vagrant":
        from harness.lab.vagrant import VAGRANT_CACHE, VagrantLab

        lab, cache, cached = VagrantLab(cfg), VAGRANT_CACHE, " (the cached box)"
    else:
        lab, cache, cached = EmbeddedLab(cfg), cfg.cache_dir, ""
    if args.action == "up":
        t0 = time.monotonic()
        if args.lab == "vagrant":
            out = lab.up()
            text = (f"lab VM is up: box {out['box_seconds']}s, vagrant up {out['vagrant_up_seconds']}s "
                    f"(target {out['target']})")
        else:
            state = lab.up()
            out = {"lab": cfg.name, "target": lab.target_url(), "ssh": lab.ssh_url(),
                   "up_seconds": state.info.get("up_seconds"), "total_seconds": round(time.monotonic() - t0, 3)}
            text = f"lab {cfg.name} is up in {out['up_seconds']}s (target {out['target']}, {out['ssh']})"
        print(json.dumps(out) if args.json else text)
        return 0
    if args.action in ("down", "purge"):
        removed = lab.down()
        if args.action == "purge":
            if args.lab == "embedded":
                require_root("harness lab purge")
                removed += lab.purge_cache()  # the offline package cache stays
            elif cache.exists():
                shutil.rmtree(cache)
                removed.append(f"dir {cache}{cached}")
        print(json.dumps({"removed": removed}) if args.json else
              ("removed:\n  " + "\n  ".join(removed) if removed else "nothing to remove"))
        return 0
    status = lab.status()
    if args.json:
        print(json.dumps({"up": status.up, "problems": list(status.problems), "info": status.info}))
    else:
        where = f"vagrant lab: {'up' if status.up else 'down'} ({status.info.get('target')})" if args.lab == "vagrant" \
            else f"lab {cfg.name}: {'up' if status.up else 'down'}"
        print(where)
        for problem in status.problems:
            print(f"  {problem}")
    return 0 if status.up else 1

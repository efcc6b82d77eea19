"""Kill the Vagrant lab mid-way with SIGKILL, run `harness lab down --lab vagrant`, and look for residue.

Run as root, alone on the machine's labs (``flock /tmp/recon-lab.flock``), with the box built
(``bash vagrant/build-box.sh``; the first `lab up` would build it otherwise)::

    .venv/bin/python bench/crash_cycles_vagrant.py                     # lab_up, then detonate
    .venv/bin/python bench/crash_cycles_vagrant.py --phases lab_up --kill-after 90

Phases:
* ``lab_up``: `harness lab up --lab vagrant` in its own process group, SIGKILLed ``--kill-after``
  seconds in (by default while `vagrant up` creates and boots the domain); with ``--term``, the
  harness process alone gets SIGTERM and must stop `vagrant up` and undo the lab itself;
* ``detonate``: the lab brought up, then `pytest atomics/ --target vagrant://default` with
  ``RECON_HARNESS_CRASH_AT=detonate`` (the harness SIGKILLs its own process group one second into
  the first detonation).

Then `harness lab down --lab vagrant` and a comparison with the snapshot taken before: the host
snapshot of bench/crash_cycles.py, plus libvirt's domains, networks, pools and volumes (when
libvirtd runs), the files libvirt keeps for them, and the libvirt, QEMU and Vagrant processes.
Residue is every difference. Prints each cycle and a JSON summary; exits 1 on any residue.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from crash_cycles import diff, snapshot  # noqa: E402

from harness.crashpoint import DELAY_ENV, ENV  # noqa: E402

PHASES = ("lab_up", "detonate")
VIRSH = ["virsh", "-q", "-c", "qemu:///system"]
PROCESSES = ("libvirtd", "virtlogd", "qemu-system-x86", "vagrant", "ruby")
LIBVIRT_FILES = ("/var/lib/libvirt/images", "/etc/libvirt/qemu", "/etc/libvirt/qemu/networks",
                 "/etc/libvirt/storage", "/run/libvirt/qemu", "/var/log/libvirt/qemu")


def _lines(args: list[str]) -> list[str]:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return [f"<{args[0]} failed: {exc}>"]
    return [x.strip() for x in out.splitlines() if x.strip()]


def _comm_of(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _alive(proc: Path) -> bool:
    """Not an exited process its parent has not reaped yet (a zombie holds nothing)."""
    try:
        return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def vagrant_snapshot() -> dict[str, list[str]]:
    snap = snapshot()
    running = any(_comm_of(p.name) == "libvirtd" and _alive(p) for p in Path("/proc").iterdir() if p.name.isdigit())
    snap["libvirt"] = (
        [f"domain {x}" for x in _lines([*VIRSH, "list", "--all", "--name"])]
        + [f"network {x}" for x in _lines([*VIRSH, "net-list", "--all", "--name"])]
        + [f"pool {x}" for x in _lines([*VIRSH, "pool-list", "--all", "--name"])]
        + [f"volume {x.split()[0]}" for x in _lines([*VIRSH, "vol-list", "default"])]
    ) if running else ["<libvirtd not running>"]
    snap["libvirt_files"] = sorted(str(p) for d in LIBVIRT_FILES if Path(d).is_dir() for p in Path(d).iterdir())
    procs = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and any(_comm_of(p.name).startswith(c) for c in PROCESSES) and _alive(p):
            procs.append(_comm_of(p.name))
    snap["vagrant_processes"] = sorted(procs)
    return snap


def harness(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def kill_lab_up(kill_after: float, log: Path, term: bool = False) -> dict[str, Any]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "lab", "up", "--lab", "vagrant"], cwd=REPO,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=kill_after)
            return {"rc": rc, "problems": [f"lab up ended (exit {rc}) before the kill at {kill_after:g} s"]}
        except subprocess.TimeoutExpired:
            if not term:
                os.killpg(proc.pid, signal.SIGKILL)
                return {"rc": proc.wait(), "problems": []}
            # SIGTERM to the harness alone (a CI timeout, `kill PID`): it must end `vagrant up` itself.
            os.kill(proc.pid, signal.SIGTERM)
            try:
                return {"rc": proc.wait(timeout=300), "problems": []}
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                return {"rc": proc.wait(), "problems": ["lab up did not end within 300 s of SIGTERM"]}


def kill_detonation(log: Path, work: Path) -> dict[str, Any]:
    up = harness("lab", "up", "--lab", "vagrant")
    if up.returncode != 0:
        return {"rc": up.returncode, "problems": [f"lab up failed: {(up.stderr or up.stdout)[-600:]}"]}
    env = {**os.environ, ENV: "detonate#1", DELAY_ENV: "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "atomics/", "-q", "-p", "no:cacheprovider",
                                 "--target", "vagrant://default", "--basetemp", str(work / "basetemp"),
                                 "--evidence-dir", str(work / "evidence")],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=900)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    problems = [] if rc == -signal.SIGKILL else [f"the run was not killed at detonate (exit {rc})"]
    return {"rc": rc, "problems": problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--kill-after", type=float, default=60.0, help="seconds into `lab up` for the lab_up kill")
    ap.add_argument("--term", action="store_true",
                    help="lab_up: SIGTERM the harness process alone (it must stop `vagrant up`), not SIGKILL its group")
    ap.add_argument("--foreign", action="append", default=[], metavar="REGEX",
                    help="differences matching REGEX belong to other users of a shared machine (shown, not counted)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("crash_cycles_vagrant.py needs root", file=sys.stderr)
        return 2
    phases = [p for p in args.phases.split(",") if p]
    if set(phases) - set(PHASES):
        print(f"unknown phases; known: {', '.join(PHASES)}", file=sys.stderr)
        return 2
    foreign = [re.compile(r) for r in args.foreign]
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crash-vagrant-", dir="/var/tmp") as tmp:
        harness("lab", "down", "--lab", "vagrant")  # an earlier crash is cleaned first
        for phase in phases:
            work = Path(tmp) / phase
            work.mkdir()
            before = vagrant_snapshot()
            t0 = time.monotonic()
            res = (kill_lab_up(args.kill_after, work / "lab-up.log", args.term) if phase == "lab_up"
                   else kill_detonation(work / "pytest.log", work))
            res["run_s"] = round(time.monotonic() - t0, 1)
            t1 = time.monotonic()
            down = harness("lab", "down", "--lab", "vagrant")
            res["down_s"] = round(time.monotonic() - t1, 1)
            res["down_output"] = (down.stdout + down.stderr).strip().splitlines()
            if down.returncode != 0:
                res["problems"].append(f"lab down --lab vagrant failed (exit {down.returncode})")
            changes = diff(before, vagrant_snapshot())
            res["residue"] = [c for c in changes if not any(f.search(c) for f in foreign)]
            res["foreign"] = [c for c in changes if any(f.search(c) for f in foreign)]
            res["phase"] = phase
            results.append(res)
            bad = bool(res["residue"] or res["problems"])
            print(f"{phase:<10} {'RESIDUE' if bad else 'clean':<8} run {res['run_s']}s down {res['down_s']}s "
                  f"foreign {len(res['foreign'])}", flush=True)
            for line in [*res["problems"], *res["residue"], *(f"  lab down: {x}" for x in res["down_output"])]:
                print(f"    {line}", flush=True)
    summary = {"cycles": len(results), "wall_s": round(time.monotonic() - started, 1),
               "with_residue": sum(bool(r["residue"] or r["problems"]) for r in results)}
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({**summary, "results": results}, indent=2, default=str))
    return 1 if summary["with_residue"] else 0


if __name__ == "__main__":
    sys.exit(main())

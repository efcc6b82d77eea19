"""Kill the atomic suite with SIGKILL at each phase in turn, run `harness lab down`, and look for residue.

Run as root, alone on the lab (``flock /tmp/recon-lab.flock``)::

    .venv/bin/python bench/crash_cycles.py --cycles 18            # every phase twice
    .venv/bin/python bench/crash_cycles.py --cycles 9 --phases detonate,cleanup

Each cycle: snapshot the host; run ``pytest atomics/`` in its own process group with
``RECON_HARNESS_CRASH_AT=<phase>`` (harness.crashpoint: the harness SIGKILLs its own process group
when it reaches that phase; detonate is killed 1 s into the command) and a canary Shodan key;
check the run really died by SIGKILL; ``lab down`` (EmbeddedLab.down, what ``harness lab down`` runs,
in-process so that the lab's own lock is held from the teardown to the snapshot: a harness run of
someone else on the same machine cannot build a lab in between); snapshot again. Residue is every
difference between the two snapshots, and every file under the places the harness writes that
still holds the canary key (the host's audit log included: the key must never be on a command
line). Prints the residue per cycle and per phase, a JSON summary, and exits 1 on any.

The snapshot: network namespaces, links, addresses, routes (v4/v6, all tables), the nft ruleset;
audit rules and status; mounts; processes by name (lab daemons and tools) and every process in a
non-initial network namespace; /tmp, /run, /opt, /usr/local, /var/cache, /var/lib/recon-harness
(paths), /etc (paths, sizes, content hashes, modes), root's dotfiles; the dpkg package list; eBPF programs
(bpftool, when installed). On a machine other people use at the same time, ``--foreign REGEX``
marks differences that are theirs (shown, not counted); CI uses none.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.crashpoint import DELAY_ENV, ENV, PHASES  # noqa: E402
from harness.errors import LabError  # noqa: E402
from harness.lab.config import load_lab_config  # noqa: E402
from harness.lab.embedded import EmbeddedLab  # noqa: E402
from harness.lab.hoststate import cmd_output  # noqa: E402
from harness.lab.lock import lab_lock  # noqa: E402

#: Delay after entering a phase before the kill, where killing at the very start would test less.
PHASE_DELAY = {"detonate": 1.0}
#: The lab provisions every prerequisite, so nothing reaches get_prereq on its own: asking for a
#: theHarvester version the package cache cannot have sends that atomic through its get_prereq
#: (which then reports the version missing from the cache, changing nothing).
PHASE_ARGS = {"get_prereq": ["--atomic-arg", "harvester_version=0.0.0"]}
#: Phases the suite reaches once per atomic: successive rounds kill at the 1st, 2nd ... occurrence
#: (shodan, ARIN, nmap, then bgp.he.net: theHarvester stops at its prerequisite in the offline lab).
OCCURRENCES = {"prereq": 4, "detonate": 4, "cleanup": 4, "telemetry": 4, "judging": 4}
WATCHED_PROCESSES = ("dnsmasq", "squid", "ulogd", "sshd", "rah-sshd", "auditd", "nmap", "curl", "shodan",
                     "theHarvester", "security_file_", "log_file_daemon", "pinger", "ssh", "ping")
VOLATILE_AUDIT = re.compile(r"^(lost|backlog|pid|backlog_wait_time_actual)\b")


def _content(path: Path, st: os.stat_result) -> str:
    """What a file holds, not when it was written: dpkg's libc-bin trigger and the Sysmon teardown
    run ldconfig, which rewrites /etc/ld.so.cache with the same bytes (a new mtime is no residue)."""
    if path.is_symlink():
        return f"-> {os.readlink(path)}"
    if not path.is_file() or st.st_size > 8 << 20:
        return f"size={st.st_size} mtime={int(st.st_mtime)}"
    try:
        return f"size={st.st_size} sha256={hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    except OSError:
        return f"size={st.st_size} mtime={int(st.st_mtime)}"


def _tree(root: str, depth: int, stat: bool = False) -> list[str]:
    out: list[str] = []
    base = Path(root)
    if not base.exists():
        return [f"{root} <absent>"]

    def walk(p: Path, d: int) -> None:
        try:
            entries = sorted(p.iterdir())
        except OSError:
            return
        for e in entries:
            try:
                st = e.lstat()
            except OSError:
                continue
            line = str(e)
            if stat and not e.is_dir():
                line += f" {_content(e, st)} mode={oct(st.st_mode)}"
            out.append(line)
            if d > 1 and e.is_dir() and not e.is_symlink():
                walk(e, d - 1)

    walk(base, depth)
    return out


def _processes() -> list[str]:
    init_net = os.stat("/proc/self/ns/net").st_ino  # ours: the host namespace (pid 1 may be unreadable)
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            net = os.stat(entry / "ns" / "net").st_ino
        except OSError:
            continue
        if net != init_net:
            out.append(f"in netns {net}: {comm}")
        elif any(comm.startswith(w) for w in WATCHED_PROCESSES):
            # pid and command line: on a shared machine they tell whose process it is.
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmdline = ""
            out.append(f"watched: {comm} (pid {entry.name}: {cmdline.strip()[:160]})")
    return sorted(out)


def snapshot() -> dict[str, list[str]]:
    audit_status = [x for x in cmd_output("auditctl", "-s").splitlines() if not VOLATILE_AUDIT.match(x)]
    bpf = cmd_output("bpftool", "prog", "show") if shutil.which("bpftool") else "<bpftool not installed>"
    bpf_lines = [re.sub(r"run_time_ns \d+ run_cnt \d+", "", x) for x in bpf.splitlines()]
    return {
        "netns": cmd_output("ip", "netns", "list").splitlines(),
        "links": [re.sub(r"\s+", " ", x) for x in cmd_output("ip", "-o", "link", "show").splitlines()],
        "addresses": cmd_output("ip", "-o", "addr", "show").splitlines(),
        "routes": cmd_output("ip", "route", "show", "table", "all").splitlines(),
        "routes6": cmd_output("ip", "-6", "route", "show", "table", "all").splitlines(),
        "nft": cmd_output("nft", "-s", "list", "ruleset").splitlines(),
        "audit_rules": cmd_output("auditctl", "-l").splitlines(),
        "audit_status": audit_status,
        "mounts": sorted(x.split()[1] + " " + x.split()[2] for x in Path("/proc/mounts").read_text().splitlines()),
        "processes": _processes(),
        "tmp": _tree("/tmp", 3),
        "run": _tree("/run", 3),
        "opt": _tree("/opt", 2),
        "usr_local": _tree("/usr/local", 3),
        "var_cache": _tree("/var/cache", 2),
        "var_lib_recon_harness": _tree("/var/lib/recon-harness", 4),
        "etc": _tree("/etc", 6, stat=True),
        "root_dotfiles": [x for x in _tree("/root", 1) if Path(x).name.startswith(".")] + _tree("/root/.ssh", 1, True),
        "dpkg": cmd_output("dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n").splitlines(),
        "bpf": bpf_lines,
    }


def diff(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    out = []
    for key in before:
        a, b = set(before[key]), set(after[key])
        out += [f"{key}: + {x}" for x in sorted(b - a)]
        out += [f"{key}: - {x}" for x in sorted(a - b)]
    return out


def canary_files(canary: str, roots: list[str]) -> list[str]:
    """Files under ``roots`` that hold the canary key (plain or hex, as auditd encodes it)."""
    forms = [canary.encode(), canary.encode().hex().encode(), canary.encode().hex().upper().encode()]
    found = []
    for root in roots:
        base = Path(root)
        if base.is_file():
            paths = [base]
        else:  # os.walk, not rglob: other users' temp dirs vanish while we walk
            paths = [Path(d) / f for d, _, files in os.walk(base, onerror=lambda e: None) for f in files]
        for p in paths:
            try:
                if not p.is_file() or p.is_symlink() or p.stat().st_size > 256 * 1024 * 1024:
                    continue
                data = p.read_bytes()
            except OSError:
                continue
            if any(f in data for f in forms):
                found.append(str(p))
    return found


def run_cycle(phase: str, nth: int, python: str, pytest_args: list[str], work: Path,
              timeout: float) -> dict[str, Any]:
    canary = "CANARY" + secrets.token_hex(12)
    env = {**os.environ, ENV: f"{phase}#{nth}", "SHODAN_API_KEY": canary}
    env.pop(DELAY_ENV, None)
    if phase in PHASE_DELAY:
        env[DELAY_ENV] = str(PHASE_DELAY[phase])
    evidence = work / "evidence"
    record = work / "record"
    # pytest's own basetemp goes to the cycle's work dir: /tmp/pytest-of-root then belongs to others.
    args = [python, "-m", "pytest", "atomics/", "-q", "-p", "no:cacheprovider", "--basetemp", str(work / "basetemp"),
            "--evidence-dir", str(evidence), "--record", str(record), *PHASE_ARGS.get(phase, []), *pytest_args]
    t0 = time.monotonic()
    with open(work / f"pytest-{phase}.log", "wb") as log:
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    run_s = time.monotonic() - t0
    problems: list[str] = []
    if rc != -signal.SIGKILL:
        tail = (work / f"pytest-{phase}.log").read_text(errors="replace")[-600:]
        problems.append(f"the run was not killed at {phase} (exit {rc}): phase not reached? {tail!r}")
    return {"phase": phase, "occurrence": nth, "rc": rc, "run_s": round(run_s, 1), "problems": problems,
            "canary": canary, "evidence": str(evidence), "record": str(record)}


def lab_down_and_check(res: dict[str, Any], lab: EmbeddedLab) -> dict[str, list[str]]:
    """`lab down` (what `harness lab down` runs), then the snapshot and canary search, all under the lab's
    own lock: no other harness session can be live on this lab meanwhile."""
    problems = list(res["problems"])
    t1 = time.monotonic()
    try:
        removed = lab.down()
    except LabError as exc:
        removed = []
        problems.append(f"lab down failed: {exc}")
    res["down_s"] = round(time.monotonic() - t1, 2)
    res["down_output"] = removed
    res["problems"] = problems
    res["canary_in"] = canary_files(str(res["canary"]), [
        "/tmp", "/run", "/var/lib/recon-harness", "/var/tmp", str(res["evidence"]), str(res["record"]),
        "/var/log/audit", "/var/log/syslog", str(REPO / "evidence")])
    return snapshot()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=len(PHASES), help=f"cycles (phases in turn; default {len(PHASES)})")
    ap.add_argument("--start", type=int, default=0, metavar="I",
                    help="number the cycles from I (a run split into chunks keeps the phase and occurrence order)")
    ap.add_argument("--phases", default=",".join(PHASES), help="comma-separated phases to cycle through")
    ap.add_argument("--foreign", action="append", default=[], metavar="REGEX",
                    help="differences matching REGEX belong to other users of a shared machine (shown, not counted)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds one suite run may take")
    ap.add_argument("--json", metavar="FILE", help="also write the summary here")
    ap.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("crash_cycles.py needs root (the embedded lab)", file=sys.stderr)
        return 2
    phases = [p for p in args.phases.split(",") if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        print(f"unknown phases: {', '.join(sorted(unknown))}; known: {', '.join(PHASES)}", file=sys.stderr)
        return 2
    foreign = [re.compile(r) for r in args.foreign]
    python = sys.executable
    work = Path(tempfile.mkdtemp(prefix="crash-cycles-", dir="/var/tmp"))
    lab = EmbeddedLab(load_lab_config())
    with lab_lock(lab.cfg.name, timeout=args.timeout):
        # Warm-up: an earlier crash is cleaned, and the provisioned tools (kept in the cache on
        # purpose) exist before the first snapshot.
        lab.down()
        lab.up()
        lab.down()
    results: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for i in range(args.start, args.start + args.cycles):
            phase = phases[i % len(phases)]
            nth = (i // len(phases)) % OCCURRENCES.get(phase, 1) + 1
            cycle_dir = work / f"cycle-{i}"
            cycle_dir.mkdir()
            with lab_lock(lab.cfg.name, timeout=args.timeout):
                before = snapshot()
            res = run_cycle(phase, nth, python, args.pytest_args, cycle_dir, args.timeout)
            with lab_lock(lab.cfg.name, timeout=args.timeout):
                after = lab_down_and_check(res, lab)
            changes = diff(before, after)
            res["residue"] = [c for c in changes if not any(f.search(c) for f in foreign)]
            res["foreign"] = [c for c in changes if any(f.search(c) for f in foreign)]
            res["cycle"] = i
            results.append(res)
            bad = bool(res["residue"] or res["problems"] or res["canary_in"])
            print(f"cycle {i:3d} {phase + '#' + str(nth):<12} {'RESIDUE' if bad else 'clean':<8} run {res['run_s']}s "
                  f"down {res['down_s']}s foreign {len(res['foreign'])}", flush=True)
            for line in [*res["problems"], *(f"canary key in {p}" for p in res["canary_in"]), *res["residue"]]:
                print(f"    {line}", flush=True)
            shutil.rmtree(cycle_dir, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.monotonic() - started
    per_phase: dict[str, dict[str, int]] = {}
    for r in results:
        d = per_phase.setdefault(str(r["phase"]), {"cycles": 0, "with_residue": 0})
        d["cycles"] += 1
        d["with_residue"] += int(bool(r["residue"] or r["problems"] or r["canary_in"]))
    summary = {"cycles": len(results), "wall_s": round(wall, 1), "per_phase": per_phase,
               "cycles_with_residue": sum(v["with_residue"] for v in per_phase.values())}
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({**summary, "results": results}, indent=2, default=str))
    return 1 if summary["cycles_with_residue"] else 0


if __name__ == "__main__":
    sys.exit(main())

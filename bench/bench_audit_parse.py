"""Benchmark: parse a generated audit.log (default 1 GB) into the Sigma view.

Floor (issue 3): at least 200,000 audit records (lines) per second on one core, with peak
memory under 200 MB whatever the file size.

The file is generated under /tmp (or --dir) with a realistic mix of ENRICHED auditd events
as a lab detonation leaves them: execve (SYSCALL, BPRM_FCAPS or not, EXECVE with hex and
quoted arguments, CWD, PATH x2, PROCTITLE), connect (SYSCALL, SOCKADDR inet, PROCTITLE),
sendto (raw probes with SOCKADDR, and TLS writes without), file creation (SYSCALL, CWD,
PATH PARENT + CREATE, PROCTITLE), plus EOE records, interleaved in pairs as multi-CPU logs
are. The parse runs in a child process (so its peak RSS is its own), single-threaded, and
builds the full Sigma view (raw auditd record events plus process_creation,
network_connection and file_event) for every event; ``--serialize`` also JSON-encodes each
event as ``harness parse`` does. The generated file is deleted afterwards unless --keep.

The file is parsed ``--runs`` times (default 3), each in a fresh child; the report gives every
run and the median of wall-clock lines/s and of lines per CPU-second (the child's user+sys
time: the machine may be shared), the load average around each run, and which auditd
tokenizer and view ran (the C accelerators ``_auditd_fast`` and ``_sigma_fast``, through
``SigmaView.auditd_stream`` as ``harness parse`` uses them, or the pure-Python reference;
``--pure`` forces the reference). The floor is checked on the median wall-clock rate.

    .venv/bin/python bench/bench_audit_parse.py [--size-mb 1024] [--runs 3] [--pure] [--serialize] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

GS = "\x1d"
ENR_IDS = 'AUID="root" UID="root" GID="root" EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"'


def _hex(s: str) -> str:
    return s.encode().hex().upper()


def _syscall(
    ts: str,
    serial: int,
    nr: int,
    name: str,
    success: str,
    exit_: str,
    items: int,
    ppid: int,
    pid: int,
    comm: str,
    exe: str,
) -> str:
    return (
        f"type=SYSCALL msg=audit({ts}:{serial}): arch=c000003e syscall={nr} success={success} exit={exit_} "
        f"a0=3 a1=7ffd88a63120 a2=10 a3=0 items={items} ppid={ppid} pid={pid} auid=0 uid=0 gid=0 euid=0 "
        f'suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=62 comm="{comm}" exe="{exe}" '
        f'key="harness_lab"{GS}ARCH=x86_64 SYSCALL={name} {ENR_IDS}\n'
    )


def _events(i: int, serial: int, t: float) -> list[list[str]]:
    """A few events of different kinds (each a list of lines)."""
    ts = f"{t:.3f}"
    pid = 4000 + (i % 30000)
    out: list[list[str]] = []
    title = _hex("nmap") + "00" + _hex("-sn") + "00" + _hex("198.51.100.128/28")
    cmd = f"nmap -sn 198.51.100.{128 + i % 16}/28 -oX /tmp/atomic-nmap-sweep.xml"
    out.append(
        [
            _syscall(ts, serial, 59, "execve", "yes", "0", 2, pid - 1, pid, "nmap", "/usr/bin/nmap"),
            f'type=EXECVE msg=audit({ts}:{serial}): argc=3 a0="bash" a1="-c" a2={_hex(cmd)}\n',
            f'type=CWD msg=audit({ts}:{serial}): cwd="/root"\n',
            f'type=PATH msg=audit({ts}:{serial}): item=0 name="/usr/bin/nmap" inode=2170898 dev=fe:00 mode=0100755 '
            f"ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
            f'{GS}OUID="root" OGID="root"\n',
            f'type=PATH msg=audit({ts}:{serial}): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=338944 dev=fe:00 '
            f"mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
            f'cap_frootid=0{GS}OUID="root" OGID="root"\n',
            f"type=PROCTITLE msg=audit({ts}:{serial}): proctitle={title}{GS}\n",
            f"type=EOE msg=audit({ts}:{serial}): \n",
        ]
    )
    s = serial + 1
    ip = f"{198:02X}{51:02X}{100:02X}{(10 + i % 90):02X}"
    out.append(
        [
            _syscall(ts, s, 42, "connect", "no", "-115", 0, pid - 1, pid, "curl", "/usr/bin/curl"),
            f"type=SOCKADDR msg=audit({ts}:{s}): saddr=020001BB{ip}0000000000000000"
            f"{GS}SADDR={{ saddr_fam=inet laddr=198.51.100.{10 + i % 90} lport=443 }}\n",
            f"type=PROCTITLE msg=audit({ts}:{s}): proctitle={_hex('curl')}00{_hex('-s')}{GS}\n",
            f"type=EOE msg=audit({ts}:{s}): \n",
        ]
    )
    for k in range(4):  # nmap raw probes
        s = serial + 2 + k
        out.append(
            [
                _syscall(ts, s, 44, "sendto", "yes", "28", 0, pid - 1, pid, "nmap", "/usr/bin/nmap"),
                f"type=SOCKADDR msg=audit({ts}:{s}): saddr=02000000C63364{(128 + (i + k) % 16):02X}0000000000000000"
                f"{GS}SADDR={{ saddr_fam=inet laddr=198.51.100.{128 + (i + k) % 16} lport=0 }}\n",
                f"type=PROCTITLE msg=audit({ts}:{s}): proctitle={title}{GS}\n",
            ]
        )
    s = serial + 6
    out.append(
        [  # TLS write on a connected socket: no SOCKADDR
            _syscall(ts, s, 44, "sendto", "yes", "517", 0, pid - 1, pid, "curl", "/usr/bin/curl"),
            f"type=PROCTITLE msg=audit({ts}:{s}): proctitle={_hex('curl')}{GS}\n",
        ]
    )
    s = serial + 7
    out.append(
        [
            _syscall(ts, s, 257, "openat", "yes", "3", 2, pid - 1, pid, "curl", "/usr/bin/curl"),
            f'type=CWD msg=audit({ts}:{s}): cwd="/root"\n',
            f'type=PATH msg=audit({ts}:{s}): item=0 name="/tmp/" inode=260072 dev=fe:00 mode=041777 ouid=0 ogid=0 '
            f"rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
            f'{GS}OUID="root" OGID="root"\n',
            f'type=PATH msg=audit({ts}:{s}): item=1 name="/tmp/atomic-{i % 1000}.xml" inode={2146326 + i} dev=fe:00 '
            f"mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
            f'cap_frootid=0{GS}OUID="root" OGID="root"\n',
            f"type=PROCTITLE msg=audit({ts}:{s}): proctitle={_hex('curl')}{GS}\n",
            f"type=EOE msg=audit({ts}:{s}): \n",
        ]
    )
    return out


def generate(path: Path, size: int) -> tuple[int, int]:
    """Write at least ``size`` bytes; return (bytes, lines)."""
    written = lines = 0
    serial, t, i = 1000, 1795844150.0, 0
    with open(path, "w", encoding="utf-8", newline="", buffering=1 << 20) as fh:
        while written < size:
            events = _events(i, serial, t)
            serial += len(events)
            i += 1
            t += 0.001
            # Interleave pairs of events line by line, as two CPUs writing at once do.
            chunk: list[str] = []
            for a, b in zip(events[0::2], events[1::2], strict=False):
                for j in range(max(len(a), len(b))):
                    if j < len(a):
                        chunk.append(a[j])
                    if j < len(b):
                        chunk.append(b[j])
            if len(events) % 2:
                chunk.extend(events[-1])
            text = "".join(chunk)
            fh.write(text)
            written += len(text)
            lines += len(chunk)
    return written, lines


def child(path: str, serialize: bool, pure: bool) -> None:
    """Parse ``path`` into the Sigma view and print one JSON result line."""
    from harness.telemetry.parsers import ParseStats, auditd, open_lines
    from harness.views import sigma
    from harness.views.sigma import SigmaView

    stats = ParseStats("auditd")
    counts: dict[str, int] = {}
    nbytes = 0
    dumps = json.dumps
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    if pure:  # the pure-Python reference: Python tokenizer, grouping loop and view
        view = SigmaView(accelerated=False)
        records = auditd.parse(open_lines(path), file=path, stats=stats, accelerated=False)
        batches: Any = (view.events(rec) for rec in records)
    else:  # what ``harness parse --format auditd --view sigma --auditd-raw`` runs
        batches = SigmaView().auditd_file(path, stats=stats)
    for events in batches:
        for ev in events:
            cat = ev["logsource"]["category"] or "auditd"
            counts[cat] = counts.get(cat, 0) + 1
            if serialize:
                nbytes += len(dumps(ev))
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    user, sys_ = ru.ru_utime - ru0.ru_utime, ru.ru_stime - ru0.ru_stime
    print(
        json.dumps(
            {
                "tokenizer": "C (_auditd_fast)" if auditd.ACCELERATED and not pure else "pure Python",
                "view": "C (_sigma_fast)" if sigma.ACCELERATED and not pure else "pure Python",
                "lines": stats.read,
                "events": stats.parsed,
                "unparseable": stats.unparseable,
                "wall_s": wall,
                "cpu_s": user + sys_,
                "user_s": user,
                "sys_s": sys_,
                "peak_rss_mb": ru.ru_maxrss / 1024,
                "sigma_events": counts,
                "json_bytes": nbytes,
            }
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--runs", type=int, default=3, help="parse runs (fresh child each); the median is reported")
    ap.add_argument("--pure", action="store_true", help="force the pure-Python auditd tokenizer")
    ap.add_argument("--serialize", action="store_true", help="also JSON-encode every Sigma event")
    ap.add_argument("--keep", action="store_true", help="keep the generated file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.serialize, args.pure)
        return 0
    path = Path(args.dir) / f"bench-audit-{os.getpid()}.log"
    runs: list[dict[str, Any]] = []
    try:
        t0 = time.perf_counter()
        size, lines = generate(path, args.size_mb * 1024 * 1024)
        print(
            f"generated {path}: {size / 1e6:.0f} MB, {lines} lines in {time.perf_counter() - t0:.0f} s", file=sys.stderr
        )
        cmd = [sys.executable, __file__, "--child", str(path)]
        cmd += (["--serialize"] if args.serialize else []) + (["--pure"] if args.pure else [])
        # taskset pins the parse to one core (the floor is per core).
        if os.path.exists("/usr/bin/taskset"):
            cmd = ["/usr/bin/taskset", "-c", "0", *cmd]
        for i in range(max(1, args.runs)):
            load_before = os.getloadavg()[0]
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            res["load_1min_before"] = round(load_before, 2)
            res["load_1min_after"] = round(os.getloadavg()[0], 2)
            res["lines_per_s_wall"] = round(res["lines"] / res["wall_s"])
            res["lines_per_s_cpu"] = round(res["lines"] / res["cpu_s"])
            runs.append(res)
            print(
                f"run {i + 1}: {res['lines_per_s_wall']:,} lines/s wall, {res['lines_per_s_cpu']:,} lines/CPU-s, "
                f"peak RSS {res['peak_rss_mb']:.0f} MB, load {load_before:.2f} -> {res['load_1min_after']:.2f}",
                file=sys.stderr,
            )
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
    rate_wall = statistics.median(float(r["lines_per_s_wall"]) for r in runs)
    rate_cpu = statistics.median(float(r["lines_per_s_cpu"]) for r in runs)
    peak = max(float(r["peak_rss_mb"]) for r in runs)
    print(
        json.dumps(
            {
                "file_mb": round(size / 1e6),
                "tokenizer": runs[0]["tokenizer"],
                "view": runs[0]["view"],
                "runs": runs,
                "median_lines_per_s_wall": round(rate_wall),
                "median_lines_per_s_cpu": round(rate_cpu),
                "max_peak_rss_mb": round(peak, 1),
                "cpus": os.cpu_count(),
            },
            indent=1,
        )
    )
    ok_rate = rate_wall >= 200_000
    ok_mem = peak < 200
    print(
        f"[tokenizer {runs[0]['tokenizer']}, view {runs[0]['view']}] median of {len(runs)}: "
        f"records/s {rate_wall:,.0f} wall "
        f"(floor 200,000: {'OK' if ok_rate else 'BELOW'}), {rate_cpu:,.0f} per CPU-second; "
        f"peak RSS {peak:.0f} MB (ceiling 200 MB: {'OK' if ok_mem else 'ABOVE'})"
    )
    return 0 if ok_rate and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())

"""A real-shaped ENRICHED audit.log of any size, built from the committed lab recordings' records.

Every audit event of ``tests/data/recordings/embedded-lab/*/*/raw/auditd.log.gz`` (a real run of
the atomics on the embedded lab: execve of bash, sh, curl, nmap, rm, mkdir, the Shodan CLI;
connects, sendto probes, openat/unlinkat/mkdir/rmdir/chmod with their PATH records; the
CRED_REFR/USER/NETFILTER_CFG records around them) is replayed, record for record, with what a
longer run would change:

* serials and timestamps move forward (about 1 ms between events), events of two "CPUs"
  interleaved line by line as a multi-CPU kernel writes them;
* pid/ppid shift per replayed process, so process trees do not repeat;
* half of the execve events get one more, unique argument (``aN="job-123456"``) and every
  file event's path a unique suffix, so command lines and file names do not repeat
  unrealistically (a matcher's per-value caches would otherwise see only a few hundred values).

The mix draws events by kind (execve, connect, file and permission activity, sendto, other),
weighted towards the process, connection and file activity of ordinary shell tools:
about 5.5 records per event, as in the issue's 1M-record / 182k-event log.

    .venv/bin/python bench/audit_replay.py OUT.log [--records 1000000] [--seed 17]
"""

from __future__ import annotations

import argparse
import gzip
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT / "tests" / "data" / "recordings" / "embedded-lab"

#: Event kinds and their share of the generated events.
MIX = {"execve": 0.40, "connect": 0.18, "file": 0.22, "sendto": 0.16, "other": 0.04}
_FILE_CALLS = {"openat", "unlinkat", "mkdir", "rmdir", "chmod", "fchmodat", "chown", "fchownat", "rename", "open"}

_STAMP = re.compile(r"msg=audit\((\d+\.\d+):(\d+)\)")
_PID = re.compile(r"(?<![\w-])(pid|ppid)=(\d+)")
_ARGC = re.compile(r"\bargc=(\d+)")
_TMP_NAME = re.compile(r'( name="/tmp/[^"]*?)(")( inode=\d+ dev=\S+ mode=0100)')


def load_events(root: Path = RECORDINGS) -> dict[str, list[list[str]]]:
    """The recordings' audit events (lists of lines without line ends), by kind."""
    by_kind: dict[str, list[list[str]]] = {k: [] for k in MIX}
    for path in sorted(root.glob("*/*/raw/auditd.log.gz")):
        events: dict[str, list[str]] = {}
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                m = _STAMP.search(line)
                if m:
                    events.setdefault(m.group(2), []).append(line.rstrip("\n"))
        for lines in events.values():
            by_kind[_kind(lines[0])].append(lines)
    if not any(by_kind.values()):
        raise SystemExit(f"no audit events under {root}")
    return by_kind


def _kind(first: str) -> str:
    m = re.search(r"\x1dARCH=\S+ SYSCALL=(\w+)", first) or re.search(r" SYSCALL=(\w+)", first)
    call = m.group(1) if m and first.startswith("type=SYSCALL") else ""
    if call == "execve":
        return "execve"
    if call == "connect":
        return "connect"
    if call in ("sendto", "sendmsg"):
        return "sendto"
    if call in _FILE_CALLS:
        return "file"
    return "other"


def _replay(lines: list[str], serial: int, ts: str, pid_shift: int, unique: int, rng: random.Random) -> list[str]:
    stamp = f"msg=audit({ts}:{serial})"
    out = []
    extra = rng.random() < 0.5
    for line in lines:
        line = _STAMP.sub(stamp, line, count=1)
        line = _PID.sub(lambda m: f"{m.group(1)}={int(m.group(2)) + pid_shift}", line)
        if extra and line.startswith("type=EXECVE"):
            argc = int(_ARGC.search(line).group(1))  # type: ignore[union-attr]
            line = _ARGC.sub(f"argc={argc + 1}", line, count=1) + f' a{argc}="job-{unique}"'
        elif line.startswith("type=PATH"):
            line = _TMP_NAME.sub(lambda m: f"{m.group(1)}-{unique}{m.group(2)}{m.group(3)}", line)
        out.append(line)
    return out


def generate(path: Path, records: int, seed: int = 17, root: Path = RECORDINGS) -> tuple[int, int, int]:
    """Write at least ``records`` audit records to ``path``; return (bytes, records, events)."""
    rng = random.Random(seed)
    by_kind = {k: v for k, v in load_events(root).items() if v}
    kinds = list(by_kind)
    weights = [MIX[k] for k in kinds]
    serial, t, written, lines_out, events_out = 100_000, 1795900000.0, 0, 0, 0
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as fh:
        while lines_out < records:
            pair: list[list[str]] = []
            for _ in range(2):  # two CPUs' events, interleaved line by line
                kind = rng.choices(kinds, weights)[0]
                src = rng.choice(by_kind[kind])
                t += rng.uniform(0.0002, 0.0018)
                pair.append(_replay(src, serial, f"{t:.3f}", (events_out // 40) % 20000, events_out, rng))
                serial += 1
                events_out += 1
            a, b = pair
            chunk = [x for i in range(max(len(a), len(b))) for x in (a[i:i + 1] + b[i:i + 1])]
            text = "\n".join(chunk) + "\n"
            fh.write(text)
            written += len(text.encode("utf-8"))
            lines_out += len(chunk)
    return written, lines_out, events_out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()
    size, recs, events = generate(args.out, args.records, args.seed)
    print(f"{args.out}: {size / 1e6:.0f} MB, {recs} records, {events} events", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Suite overhead: how much longer `pytest atomics/` takes than the commands it runs.

Run as root, alone on the lab (``flock /tmp/recon-lab.flock``)::

    .venv/bin/python bench/bench_suite_overhead.py --runs 3 [--json out.json]

Builds the embedded lab first (``harness lab up``; its time is reported apart, as "lab up"), then
runs ``pytest atomics/`` ``--runs`` times on the built lab, each a fresh process timed from start to
exit. The commands' own time is the sum of every command run.json records (prerequisites,
get_prereq, detonations, cleanups, the negative control's). Overhead = wall - commands; the ratio
overhead / commands compares machines. The floor of issue 17: wall <= commands + 5 s. Takes the
lab down at the end (when it built it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.lab.config import load_lab_config  # noqa: E402
from harness.lab.embedded import EmbeddedLab  # noqa: E402


def commands_seconds(doc: dict[str, Any]) -> tuple[float, int]:
    atomics = list(doc.get("atomics") or []) + ([doc["negative_control"]] if doc.get("negative_control") else [])
    durations = [float(c.get("duration_s") or 0.0) for a in atomics for c in a.get("commands") or []]
    return sum(durations), len(durations)


def one_run(evidence: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "atomics/", "-q", "-p", "no:cacheprovider",
                           "--evidence-dir", str(evidence)], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    wall = time.monotonic() - t0
    runs = sorted(evidence.glob("*/run.json"), key=os.path.getmtime)
    if proc.returncode != 0 or not runs:
        raise SystemExit(f"pytest atomics/ failed (rc {proc.returncode}):\n{proc.stdout[-2000:]}\n"
                         f"{proc.stderr[-2000:]}")
    doc = json.loads(runs[-1].read_text())
    cmds, n = commands_seconds(doc)
    verdicts = {a["id"]: a["verdict"] for a in doc["atomics"]}
    return {"wall_s": round(wall, 2), "commands_s": round(cmds, 2), "commands": n,
            "overhead_s": round(wall - cmds, 2), "ratio": round((wall - cmds) / cmds, 2) if cmds else None,
            "verdicts": verdicts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    lab = EmbeddedLab(load_lab_config())
    built = not lab.status().up
    t0 = time.monotonic()
    if built:
        lab.up()
    lab_up = time.monotonic() - t0
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
            for i in range(args.runs):
                r = one_run(Path(tmp) / f"run{i}")
                results.append(r)
                verdicts = sorted(set(r["verdicts"].values()))
                print(f"run {i + 1}: wall {r['wall_s']:.2f} s, commands {r['commands_s']:.2f} s ({r['commands']}), "
                      f"overhead {r['overhead_s']:.2f} s (x{r['ratio']}), verdicts {verdicts}")
    finally:
        if built:
            lab.down()
    summary = {
        "lab_up_s": round(lab_up, 2) if built else None,
        "runs": results,
        "median_wall_s": statistics.median(r["wall_s"] for r in results),
        "median_commands_s": statistics.median(r["commands_s"] for r in results),
        "median_overhead_s": statistics.median(r["overhead_s"] for r in results),
        "median_ratio": statistics.median(r["ratio"] for r in results),
        "load_average": os.getloadavg(),
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

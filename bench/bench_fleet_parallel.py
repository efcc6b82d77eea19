"""Wall time of `pytest atomics/` over three embedded labs in parallel against one lab alone
(floor, issue 18: at most 1.6x on a 2-core machine).

Run as root: .venv/bin/python bench/bench_fleet_parallel.py [--runs N] [--json OUT]

The labs (netns://rah, netns://b, netns://c) are brought up once, outside the measurement, so both
sides time the same thing: the suite's session, every atomic's detonation, collection and judging,
and the evidence. Each run times one lab alone (`--target netns://rah`), then all three with
`-n 3 --dist loadgroup`, alternating so that a noisy neighbour hits both sides alike. Every run must
pass; the script exits 1 when a run fails or the median ratio is above the floor.
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

from harness.lab.config import load_lab_config

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("b", "c")
FLOOR = 1.6


def _harness(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, check=True, capture_output=True,
                   timeout=600)


def _pytest(targets: list[str], workers: int, evidence: Path) -> float:
    cmd = [sys.executable, "-m", "pytest", "atomics/", "-q", "-p", "no:cacheprovider", "--evidence-dir",
           str(evidence)]
    if workers > 1:
        cmd += ["-n", str(workers), "--dist", "loadgroup"]
    for t in targets:
        cmd += ["--target", t]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{(res.stdout + res.stderr)[-3000:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", metavar="OUT", help="also write the figures here")
    args = ap.parse_args()
    one, three = [], []
    _harness("lab", "up")
    try:
        for name in NAMES:
            _harness("lab", "up", "--name", name)
        targets = [f"netns://{load_lab_config().name}", *(f"netns://{n}" for n in NAMES)]
        with tempfile.TemporaryDirectory(prefix="recon-harness-bench-") as tmp:
            for i in range(args.runs):
                one.append(round(_pytest(targets[:1], 1, Path(tmp) / f"one-{i}"), 2))
                three.append(round(_pytest(targets, 3, Path(tmp) / f"three-{i}"), 2))
    finally:
        for name in NAMES:
            _harness("lab", "down", "--name", name)
        _harness("lab", "down")
    ratio = statistics.median(three) / statistics.median(one)
    out = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "one_lab_s": one, "three_labs_n3_s": three,
           "one_median_s": statistics.median(one), "three_median_s": statistics.median(three),
           "ratio": round(ratio, 3), "floor": FLOOR, "meets_floor": ratio <= FLOOR}
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0 if out["meets_floor"] else 1


if __name__ == "__main__":
    sys.exit(main())

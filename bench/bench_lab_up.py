"""How long `harness lab up` and `lab down` take once the lab is provisioned (floor: well under 5 s).

Run as root: .venv/bin/python bench/bench_lab_up.py [--cycles N]
Prints one JSON object with every cycle's times and the median and maximum.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.lab.lock import lab_lock


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cycles", type=int, default=5)
    args = ap.parse_args()
    lab = EmbeddedLab(load_lab_config())
    ups, downs = [], []
    with lab_lock(lab.cfg.name):
        lab.down()
        lab.provision()  # once, outside the measurement (as the issue specifies)
        for _ in range(args.cycles):
            t0 = time.perf_counter()
            lab.up(provision=False)
            t1 = time.perf_counter()
            lab.down()
            t2 = time.perf_counter()
            ups.append(round(t1 - t0, 3))
            downs.append(round(t2 - t1, 3))
    out = {
        "cycles": args.cycles,
        "up_s": ups,
        "down_s": downs,
        "up_median_s": statistics.median(ups),
        "up_max_s": max(ups),
        "down_median_s": statistics.median(downs),
        "floor_s": 5.0,
        "meets_floor": max(ups) < 5.0,
    }
    print(json.dumps(out))
    return 0 if out["meets_floor"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

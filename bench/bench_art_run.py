"""Time per upstream atomic on the lab VM, and what the whole Linux library would take (issue 19).

Run as root with the lab VM up (`harness lab up --lab vagrant`):

    .venv/bin/python bench/bench_art_run.py [--atomics DIR] [--limit N] [--json OUT]

Every Linux test of the tree (default: the committed upstream sample, tests/data/art/atomics) that
the guard lets run on vagrant://default is run as `harness art run` runs it: the VM reverted to a
clean snapshot before each test, the test detonated, its telemetry collected and matched against
SigmaHQ's Linux rules. A test's time is from the start of its revert to its stored verdict. The
projection multiplies the median by the number of tests the guard lets run in the whole upstream
library; pass `--library DIR` (upstream's atomics/) to count them, else the count measured at
upstream 9f85cf3 (307 of 398, README) is used. N VMs are assumed to divide the work evenly and to
run as fast as one: that assumes N times the CPU this machine has (the VM is software-emulated),
which this bench does not measure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.atomics.library import load_library  # noqa: E402
from harness.execution import art_guard  # noqa: E402
from harness.execution.scope import Scope  # noqa: E402
from harness.lab.config import load_lab_config  # noqa: E402
from harness.run.art import ArtRun  # noqa: E402
from harness.verdicts.coverage import Coverage  # noqa: E402

TARGET = "vagrant://default"
UPSTREAM_RUNNABLE_ON_VM = 307  # README: of upstream 9f85cf3's 398 runnable Linux tests, on vagrant://default


def runnable(atomics: Path) -> list[str]:
    scope = Scope.from_lab(load_lab_config())
    lib = load_library(atomics)
    return [t.test.id for t in lib.tests("linux")
            if art_guard.check(t.test, TARGET, scope, atomics_folder=t.technique.atomics_folder) is None]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--atomics", type=Path, default=ROOT / "tests" / "data" / "art" / "atomics")
    ap.add_argument("--rules", type=Path, default=ROOT / "tests" / "data" / "sigmahq" / "rules" / "linux")
    ap.add_argument("--library", type=Path, default=None, help="upstream atomics/ to count the projection from")
    ap.add_argument("--limit", type=int, default=None, help="run at most N tests")
    ap.add_argument("--vms", type=int, nargs="*", default=[1, 2, 4, 8])
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    ids = runnable(args.atomics)[: args.limit]
    out = Path(tempfile.mkdtemp(prefix="bench-art-"))
    t0 = time.monotonic()
    run = ArtRun(atomics=args.atomics, target=TARGET, rules=args.rules, out=out, test_ids=ids,
                 progress=lambda line: print(time.strftime("%T"), line, file=sys.stderr, flush=True))
    results = run.run_all()
    wall = time.monotonic() - t0
    ran = [r for r in results if r.coverage is not Coverage.NOT_RUN]
    per_test = [float(r.timings["total_s"]) for r in ran if "total_s" in r.timings]
    resets = [float(r.timings["reset_s"]) for r in ran if "reset_s" in r.timings]
    median = statistics.median(per_test)
    whole = len(runnable(args.library)) if args.library else UPSTREAM_RUNNABLE_ON_VM
    report = {
        "tests": len(ran), "wall_s": round(wall, 1),
        "outcomes": {c.value: n for c in Coverage if (n := sum(r.coverage is c for r in ran))},
        "per_test_s": {"median": round(median, 2), "min": min(per_test), "max": max(per_test),
                       "mean": round(statistics.mean(per_test), 2)},
        "reset_s_median": round(statistics.median(resets), 2) if resets else None,
        "setup_s": round(wall - sum(per_test), 1),  # snapshot, negative control, final revert
        "library_tests": whole, "library_source": str(args.library) if args.library else "README (upstream 9f85cf3)",
        "projection_h": {str(n): round(whole * median / n / 3600, 2) for n in args.vms},
        "host_cpus": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    import shutil

    shutil.rmtree(out)
    return 0 if per_test else 1  # a measurement: ERROR outcomes are reported, not a failure of the bench


if __name__ == "__main__":
    sys.exit(main())

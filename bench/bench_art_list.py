"""How long loading Atomic Red Team's whole library takes: in process and as `harness list`.

The upstream tree is fetched by the user (not shipped): clone redcanaryco/atomic-red-team and pass
its atomics/ folder.

    .venv/bin/python bench/bench_art_list.py /path/to/atomic-red-team/atomics [--runs N]

Prints one JSON object: the library's counts (technique files, tests, Linux tests, runnable,
not applicable by reason, files with errors) and, per run, the wall and CPU time of
`load_library` in this process and the wall time of the `harness list --atomics DIR` command
(interpreter start and CLI imports included), with their medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from harness.atomics.library import load_library


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("atomics", type=Path, help="an atomics/ folder in ART's layout")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    harness = Path(sys.executable).with_name("harness")
    load_wall, load_cpu, cli_wall = [], [], []
    library = None
    for _ in range(args.runs):
        w0, c0 = time.perf_counter(), time.process_time()
        library = load_library(args.atomics)
        load_wall.append(time.perf_counter() - w0)
        load_cpu.append(time.process_time() - c0)
        w0 = time.perf_counter()
        done = subprocess.run([str(harness), "list", "--atomics", str(args.atomics)], capture_output=True, text=True)
        cli_wall.append(time.perf_counter() - w0)
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)
            return 2
    assert library is not None
    linux = library.tests("linux")
    reasons = Counter((item.not_applicable or "").split(":")[0] for item in linux if item.not_applicable)
    runnable = [item for item in linux if not item.not_applicable]
    result = {
        "atomics": str(args.atomics),
        "technique_files": len(library.files),
        "loaded": len(library.techniques),
        "files_with_errors": len(library.failed_files),
        "tests": sum(len(t.atomic_tests) for t, _ in library.techniques),
        "linux_tests": len(linux),
        "linux_runnable": len(runnable),
        "linux_runnable_techniques": len({item.technique.attack_technique for item in runnable}),
        "linux_not_applicable": dict(reasons),
        "load_library_wall_s": [round(x, 3) for x in load_wall],
        "load_library_cpu_s": [round(x, 3) for x in load_cpu],
        "harness_list_wall_s": [round(x, 3) for x in cli_wall],
        "median": {
            "load_library_wall_s": round(statistics.median(load_wall), 3),
            "load_library_cpu_s": round(statistics.median(load_cpu), 3),
            "harness_list_wall_s": round(statistics.median(cli_wall), 3),
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

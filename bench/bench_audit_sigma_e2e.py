"""Benchmark (issue 4): a 1,000,000-record audit log parsed and matched end to end.

Generates an ENRICHED audit.log of at least ``--records`` lines with bench_audit_parse's realistic
generator (execve, connect, sendto, file creation), then in one process: streams it through the
auditd parser, the Sigma view and the Sigma engine loaded with SigmaHQ's Linux rules plus
detections/sigma, and reports lines/s, Sigma events/s, wall and CPU time, peak memory and the
matches per rule. Rule loading is measured separately.

    .venv/bin/python bench/bench_audit_sigma_e2e.py [--records 1000000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINUX_RULES = ROOT.parent / "shared" / "data" / "sigmahq" / "rules" / "linux"
BYTES_PER_LINE = 230  # the generator's average, to size the file for the wanted line count


def _generator():  # bench_audit_parse.generate, imported by path (bench/ is not a package)
    spec = importlib.util.spec_from_file_location("bench_audit_parse", ROOT / "bench" / "bench_audit_parse.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp")
    args = ap.parse_args()

    from harness.rules.sigma import SigmaEngine
    from harness.telemetry.parsers import ParseStats, parse_file
    from harness.telemetry.parsers import auditd as auditd_parser
    from harness.views.sigma import SigmaView

    path = Path(args.dir) / f"bench-e2e-audit-{os.getpid()}.log"
    generate = _generator()
    try:
        size, lines = generate(path, args.records * BYTES_PER_LINE)
        while lines < args.records:  # top up if the estimate was short
            size, lines = generate(path, int(size * args.records / max(lines, 1)) + BYTES_PER_LINE * 1000)
        t0 = time.perf_counter()
        engine = SigmaEngine.from_paths([str(LINUX_RULES), str(ROOT / "detections" / "sigma")])
        load_s = time.perf_counter() - t0
        stats = ParseStats("auditd")
        view = SigmaView()
        n_events = 0

        def events():
            nonlocal n_events
            for rec in parse_file("auditd", path, stats=stats):
                for ev in view.events(rec):
                    n_events += 1
                    yield ev

        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t1 = time.perf_counter()
        per_rule = Counter(m.rule_id for m in engine.match(events()))
        wall = time.perf_counter() - t1
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
        out = {
            "file_mb": round(size / 1e6, 1),
            "lines": stats.read,
            "audit_events": stats.parsed,
            "unparseable": stats.unparseable,
            "sigma_events": n_events,
            "rules_loaded": len(engine.rules) if hasattr(engine, "rules") else None,
            "rule_problems": len(engine.problems),
            "rule_load_s": round(load_s, 2),
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "lines_per_s_wall": round(stats.read / wall),
            "lines_per_s_cpu": round(stats.read / cpu),
            "sigma_events_per_s_wall": round(n_events / wall),
            "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
            "tokenizer": "C (_auditd_fast)" if getattr(auditd_parser, "ACCELERATED", False) else "pure Python",
            "matches_per_rule": dict(per_rule.most_common()),
            "load_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(out, indent=1))
    finally:
        path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Re-make tests/data/recordings/embedded-lab/ from a real run on the embedded lab (as root):

    sudo .venv/bin/python tests/data/recordings/make_recording.py

Runs ``pytest atomics/ --record`` on the embedded lab, gzips the layout's files (the replay reads
``*.gz`` transparently) and stores the live run's verdicts per signal in expected-verdicts.json, which
the default test suite compares a replay against.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent / "embedded-lab"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="recon-recording-") as tmp:
        rec, ev = Path(tmp) / "rec", Path(tmp) / "evidence"
        cmd = [sys.executable, "-m", "pytest", "atomics/", "-p", "no:cacheprovider", "-q",
               "--record", str(rec), "--evidence-dir", str(ev)]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=False)
        runs = sorted(rec.iterdir())
        if len(runs) != 1:
            print(f"expected one recorded run under {rec}, found {runs}", file=sys.stderr)
            return 1
        doc = json.loads(next(ev.glob("*/run.json")).read_text(encoding="utf-8"))
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir(parents=True)
        shutil.copytree(runs[0], OUT / runs[0].name)
        for path in sorted((OUT / runs[0].name).rglob("*")):
            if path.is_file() and path.suffix in (".jsonl", ".log"):
                with path.open("rb") as src, gzip.open(path.with_name(path.name + ".gz"), "wb", 9) as dst:
                    shutil.copyfileobj(src, dst)
                path.unlink()
        expected = {
            "run_id": doc["run_id"],
            "atomics": {a["id"]: {"verdict": a["verdict"], "signals": {s["id"]: s["verdict"] for s in a["signals"]}}
                        for a in [*doc["atomics"], doc["negative_control"]] if a},
        }
        (OUT / "expected-verdicts.json").write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
    print(f"recorded into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

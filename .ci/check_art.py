"""CI (.ci/vagrant.sh): what the ART sample run on the lab VM must show.

usage: check_art.py STATE_DIR RESUME_LOG ID=WANT...

WANT is JUDGED (the test ran and its telemetry was judged: DETECTED or NOT_DETECTED, with auditd
and Sysmon events attributed) or the outcome it must have (PREREQ_MISSING, EXECUTION_FAILED).
"""

import json
import subprocess
import sys
from pathlib import Path

out, resume_log = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
expect = dict(arg.split("=", 1) for arg in sys.argv[3:])
wanted = list(expect)
doc = json.loads((out / "coverage.json").read_text())
tests = {t["test_id"]: t for t in doc["tests"]}
problems = []
if sorted(tests) != sorted(wanted):
    problems.append(f"tests in coverage.json: {sorted(tests)}")
judged = [t for t in tests.values() if t["coverage"] in ("DETECTED", "NOT_DETECTED")]
for t in tests.values():
    counted = [r for r in t["rules"] if not r["on_control"]]
    print(f"  {t['test_id']:<13} {t['coverage']:<15} events {sum(t['telemetry'].values()):>4}  rules "
          + (", ".join(f"{r['title']} x{r['matches']}" for r in counted) or "-")
          + ("" if t in judged else f"  ({t['reason'][:100]})"))
    got = "JUDGED" if t in judged else t["coverage"]
    if got != expect.get(t["test_id"]):
        problems.append(f"{t['test_id']}: {t['coverage']} (want {expect.get(t['test_id'])}): {t['reason']}")
    if t in judged and not (t["telemetry"].get("auditd") and t["telemetry"].get("sysmon")):
        problems.append(f"{t['test_id']}: judged without both auditd and Sysmon events: {t['telemetry']}")
    if t["coverage"] == "DETECTED" and not all(r["events"] for r in counted):
        problems.append(f"{t['test_id']}: a matching rule without its events")
techniques = {t["technique"] for t in judged}
if len(judged) < 10 or len(techniques) < 10:
    problems.append(f"{len(judged)} tests judged from {len(techniques)} techniques; want at least 10 and 10")
if doc["reset"]["kind"] != "snapshot" or doc["reset"]["resets"] < len(judged) - 1:
    problems.append(f"resets between tests: {doc['reset']}")
html = (out / "report.html").read_text()
missing = [t for t in wanted if t not in html]
if missing:
    problems.append(f"report.html does not show {missing}")
if f"{len(wanted)} already done" not in resume_log:
    problems.append("the second run did not read every test back from its state")
left = subprocess.run(["virsh", "-q", "-c", "qemu:///system", "snapshot-list", "recon-harness-default", "--name"],
                      capture_output=True, text=True, check=False).stdout.split()
if left:
    problems.append(f"snapshots left on the VM: {left}")
print(f"ART sample: {doc['summary']}; {len(judged)} judged from {len(techniques)} techniques; "
      f"resets {doc['reset']}; per test {doc['timing']['per_test_s_median']} s (median)")
if problems:
    print("ART PROBLEMS:\n  " + "\n  ".join(problems))
    sys.exit(1)

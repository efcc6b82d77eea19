"""How fast the lab VM can be reset between atomics (issue 19: measure both ways and choose).

Run as root: .venv/bin/python bench/bench_vm_reset.py [--reverts N] [--fresh N] [--json OUT]

Two ways to give every upstream atomic a clean VM:

* snapshot revert: one libvirt snapshot of the running, provisioned VM (disk and memory, taken
  after ``harness lab up --lab vagrant``), reverted after each atomic (``virsh snapshot-revert``);
* fresh domain: ``vagrant destroy`` and ``vagrant up`` from the cached box (what ``harness lab
  down`` and ``up --lab vagrant`` do, box build excluded: the box is cached).

A revert cycle: a marker file is written over SSH, the snapshot is reverted, the time until a new
SSH login (host key still pinned from the first boot's serial log) answers is taken, the marker must
be gone, and the guest clock's lag behind the host is measured before and after setting it from the
host (a reverted guest resumes at the snapshot's time). A fresh cycle: down, then up, timed.
The lab comes down at the end (the snapshot is deleted first); nothing is left behind.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.atomics.loader import repo_root  # noqa: E402
from harness.lab.config import load_lab_config  # noqa: E402
from harness.lab.vagrant import DOMAIN_PREFIX, VagrantLab, virsh  # noqa: E402
from harness.lab.vagrant_target import host_key_from_serial_log, vagrant_ssh_config  # noqa: E402
from harness.targets import get_target  # noqa: E402
from harness.targets.base import Target  # noqa: E402

SNAPSHOT = "recon-harness-bench-clean"
MARKER = "/root/recon-harness-reset-marker"


def _ssh_url(host_key: str) -> str:
    entry = vagrant_ssh_config("default", repo_root())
    return (f"ssh://root@{entry.hostname}:{entry.port}?identity_file={quote(entry.identity_files[0], safe='')}"
            f"&host_key={quote(host_key, safe='')}")


def _wait_ssh(url: str, timeout: float = 120.0) -> Target:
    deadline = time.monotonic() + timeout
    while True:
        target = get_target(url)
        try:
            if target.run("true", timeout=10).rc == 0:
                return target
        except Exception:
            if time.monotonic() > deadline:
                raise
        target.close()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}: no SSH answer within {timeout:.0f} s")
        time.sleep(0.2)


def _guest_lag(target: Target) -> float:
    """Host time minus guest time, seconds (midpoint of the round trip)."""
    t0 = time.time()
    guest = float(target.run("date +%s.%N", timeout=10).stdout)
    return round((t0 + time.time()) / 2 - guest, 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reverts", type=int, default=5)
    ap.add_argument("--fresh", type=int, default=1, help="fresh-domain cycles (each about 3 min)")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    lab = VagrantLab(load_lab_config())
    domain = f"{DOMAIN_PREFIX}default"
    out: dict[str, object] = {}
    first_up = time.monotonic()
    lab.up()
    out["first_up_s"] = round(time.monotonic() - first_up, 1)
    try:
        key = host_key_from_serial_log(lab.vc.serial_log)
        assert key is not None, "the VM published no host key on its serial port"
        url = _ssh_url(key)
        t0 = time.monotonic()
        virsh("snapshot-create-as", domain, SNAPSHOT, "--description", "bench_vm_reset")
        out["snapshot_create_s"] = round(time.monotonic() - t0, 2)
        reverts, ready, lags, lags_after = [], [], [], []
        try:
            for _ in range(args.reverts):
                target = _wait_ssh(url)
                target.run(f"touch {MARKER}", timeout=10)
                target.close()
                t0 = time.monotonic()
                virsh("snapshot-revert", domain, SNAPSHOT)
                t1 = time.monotonic()
                target = _wait_ssh(url)
                t2 = time.monotonic()
                assert target.run(f"test -e {MARKER}").rc == 1, "the marker survived the revert"
                lags.append(_guest_lag(target))
                target.run(f"date -u -s @{time.time():.3f} >/dev/null", timeout=10)
                lags_after.append(_guest_lag(target))
                target.close()
                reverts.append(round(t1 - t0, 2))
                ready.append(round(t2 - t0, 2))
        finally:
            virsh("snapshot-delete", domain, SNAPSHOT, check=False)
        out.update({"revert_s": reverts, "revert_to_ssh_s": ready, "clock_lag_after_revert_s": lags,
                    "clock_lag_after_resync_s": lags_after,
                    "revert_to_ssh_median_s": statistics.median(ready) if ready else None})
        fresh = []
        for _ in range(args.fresh):
            t0 = time.monotonic()
            lab.down()
            lab.up()
            _wait_ssh(_ssh_url(host_key_from_serial_log(lab.vc.serial_log) or "")).close()
            fresh.append(round(time.monotonic() - t0, 1))
        out.update({"fresh_domain_s": fresh, "fresh_domain_median_s": statistics.median(fresh) if fresh else None})
    finally:
        out["teardown"] = lab.down()
    med_revert, med_fresh = out.get("revert_to_ssh_median_s"), out.get("fresh_domain_median_s")
    if isinstance(med_revert, float) and isinstance(med_fresh, float):
        out["choice"] = "snapshot" if med_revert < med_fresh else "fresh-domain"
    print(json.dumps(out))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

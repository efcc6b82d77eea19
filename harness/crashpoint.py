"""Phase hook for crash testing: SIGKILL the harness's own process group when a named phase is reached.

``RECON_HARNESS_CRASH_AT=PHASE`` (one of :data:`PHASES`) kills at the first time the run reaches
PHASE, ``PHASE#N`` at the N-th time (the N-th atomic's detonation, say);
``RECON_HARNESS_CRASH_DELAY=SECONDS`` kills that long after it instead, from a timer, so a detonation
is killed while its command runs. Unset (always, outside ``bench/crash_cycles.py``),
:func:`crash_point` does nothing. A phase hook rather than a random sleep: a 0.9 s lab up is
rarely hit by chance.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

PHASES = ("lab_up", "preflight", "prereq", "get_prereq", "detonate", "cleanup", "telemetry", "judging", "evidence")
ENV = "RECON_HARNESS_CRASH_AT"
DELAY_ENV = "RECON_HARNESS_CRASH_DELAY"

_fired = False
_reached: dict[str, int] = {}


def _kill() -> None:
    sys.stderr.write(f"\nharness: {ENV}: SIGKILL to process group {os.getpgrp()}\n")
    sys.stderr.flush()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def crash_point(phase: str) -> None:
    """Called by the harness as it enters ``phase``; kills the process group when asked to."""
    global _fired
    want = os.environ.get(ENV)
    if not want or _fired:
        return
    name, _, nth = want.partition("#")
    if name != phase:
        return
    _reached[phase] = _reached.get(phase, 0) + 1
    if _reached[phase] < int(nth or 1):
        return
    _fired = True
    delay = float(os.environ.get(DELAY_ENV) or 0)
    if delay > 0:
        timer = threading.Timer(delay, _kill)
        timer.daemon = True
        timer.start()
        return
    _kill()

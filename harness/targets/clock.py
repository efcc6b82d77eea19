"""A target's clock offset from the controller, measured as NTP measures it: read the target's clock
between two controller readings and assume it was read at their midpoint.

Log lines on a host carry that host's clock, while detonation windows are cut with the controller's;
a host a few seconds off would push its records out of the ±slack window (or pull a neighbour's in).
The offset is ``target - controller`` in seconds; the uncertainty is half the round trip of the best
sample (the target's reading lies somewhere inside it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import TargetError
from harness.targets.base import Target

# %N is GNU date's; busybox prints it literally: then whole seconds (uncertainty widened by 0.5 s).
COMMAND = "date -u +%s.%N"
FALLBACK = "date -u +%s"


@dataclass(frozen=True)
class ClockOffset:
    offset_s: float  # target clock minus controller clock
    uncertainty_s: float  # the offset is within ±this
    samples: int
    method: str = f"`{COMMAND}` round-trip midpoint, best of the samples"

    def to_controller(self, t: float) -> float:
        """A target timestamp on the controller's clock."""
        return t - self.offset_s

    def to_dict(self) -> dict[str, float | int | str]:
        return {"offset_s": round(self.offset_s, 6), "uncertainty_s": round(self.uncertainty_s, 6),
                "samples": self.samples, "method": self.method}


def offset_from_sample(sent_s: float, remote_s: float, received_s: float, resolution_s: float = 0.0) -> ClockOffset:
    """One sample: the controller read ``sent_s`` and ``received_s`` around the target's ``remote_s``."""
    if received_s < sent_s:
        raise ValueError("the reply cannot come before the request")
    half = (received_s - sent_s) / 2
    return ClockOffset(remote_s - (sent_s + half), half + resolution_s, 1)


def best_of(samples: Sequence[ClockOffset]) -> ClockOffset:
    """The sample with the shortest round trip (the least queued behind other work)."""
    if not samples:
        raise ValueError("no clock samples")
    best = min(samples, key=lambda s: s.uncertainty_s)
    return ClockOffset(best.offset_s, best.uncertainty_s, len(samples), best.method)


def _parse(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def measure_clock_offset(target: Target, samples: int = 3, timeout: float = 20.0) -> ClockOffset:
    """Measure ``target``'s clock offset; TargetError when its clock cannot be read."""
    got: list[ClockOffset] = []
    command = COMMAND
    for _ in range(samples + 1):  # one spare try for the fall-back to whole seconds
        if len(got) == samples:
            break
        res = target.run(command, timeout=timeout)  # an unreachable host raises its own TargetError
        remote = _parse(res.stdout) if res.succeeded else None
        if remote is None and command == COMMAND:
            command = FALLBACK
            continue
        if remote is None:
            raise TargetError(f"cannot read the clock of {target.url}: `{command}` printed {res.stdout.strip()!r}")
        if command == FALLBACK:  # whole seconds, truncated: the true time is in [s, s + 1)
            got.append(offset_from_sample(res.started_ns / 1e9, remote + 0.5, res.ended_ns / 1e9, 0.5))
        else:
            got.append(offset_from_sample(res.started_ns / 1e9, remote, res.ended_ns / 1e9))
    best = best_of(got)
    if command == FALLBACK:
        return ClockOffset(best.offset_s, best.uncertainty_s, best.samples, f"`{FALLBACK}` round-trip midpoint")
    return best

"""harness.targets.clock: a target's clock offset, and its use in log time windows."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from harness.errors import TargetError
from harness.targets.base import CommandResult, Target, get_target
from harness.targets.clock import best_of, measure_clock_offset, offset_from_sample
from harness.telemetry.attribution import Detonation


def test_offset_is_the_target_reading_minus_the_round_trip_midpoint() -> None:
    one = offset_from_sample(1000.0, 1005.3, 1000.2)
    assert one.offset_s == pytest.approx(5.2)  # the target read 1005.3 at controller time ~1000.1
    assert one.uncertainty_s == pytest.approx(0.1)
    behind = offset_from_sample(2000.0, 1990.0, 2000.0)
    assert behind.offset_s == pytest.approx(-10.0) and behind.uncertainty_s == 0.0
    assert offset_from_sample(10.0, 10.5, 11.0, resolution_s=0.5).uncertainty_s == pytest.approx(1.0)
    with pytest.raises(ValueError, match="before the request"):
        offset_from_sample(10.0, 10.0, 9.0)


def test_best_sample_is_the_shortest_round_trip() -> None:
    slow = offset_from_sample(0.0, 7.0, 2.0)  # offset 6 ± 1
    fast = offset_from_sample(10.0, 15.05, 10.1)  # offset 5 ± 0.05
    best = best_of([slow, fast])
    assert best.offset_s == pytest.approx(5.0) and best.uncertainty_s == pytest.approx(0.05) and best.samples == 2
    assert best.to_controller(100.0) == pytest.approx(95.0)
    assert best.to_dict()["offset_s"] == 5.0
    with pytest.raises(ValueError):
        best_of([])


def test_log_window_follows_the_target_clock() -> None:
    # Detonation from 100 to 110 on the controller; the host runs 30 s ahead.
    det = Detonation(start=100.0, end=110.0, slack_s=2.0, clock_offset_s=30.0)
    assert det.in_window(130.0) and det.in_window(141.9) and det.in_window(128.1)
    assert not det.in_window(105.0)  # a controller-time stamp is 25 s before the host's window
    assert not det.in_window(142.5) and not det.in_window(127.5)
    plain = Detonation(start=100.0, end=110.0, slack_s=2.0)
    assert plain.in_window(105.0) and not plain.in_window(130.0)


def test_real_local_clock_is_within_its_uncertainty() -> None:
    clock = measure_clock_offset(get_target("local://"), samples=3)
    assert clock.samples == 3
    assert 0 < clock.uncertainty_s < 1.0
    # Same machine, same clock: the true offset is 0, so the estimate is 0 within its uncertainty
    # (plus the scheduling delay between fork and exec of `date`).
    assert abs(clock.offset_s) <= clock.uncertainty_s + 0.05


@dataclass
class _FakeClockTarget(Target):
    """Error paths only: a target whose `date` is busybox-like or broken."""

    outputs: Mapping[str, str]
    url: str = "fake://host"

    def run(self, command: str, *, timeout: float | None = None, env: Mapping[str, str] | None = None,
            shell: str = "sh") -> CommandResult:
        now = time.time_ns()
        return CommandResult(command, 0, self.outputs.get(command, ""), "", now, now + 2_000_000)

    def read_file(self, path: str) -> bytes:
        raise TargetError("no files")

    def write_file(self, path: str, data: bytes, mode: int = 0o600) -> None:
        raise TargetError("no files")

    def remove_file(self, path: str) -> None:
        raise TargetError("no files")


def test_busybox_date_falls_back_to_whole_seconds() -> None:
    whole = int(time.time()) + 60
    target = _FakeClockTarget({"date -u +%s.%N": f"{whole}.N\n", "date -u +%s": f"{whole}\n"})
    clock = measure_clock_offset(target, samples=2)
    assert clock.samples == 2 and "date -u +%s`" in clock.method
    assert clock.uncertainty_s >= 0.5
    assert abs(clock.offset_s - 60) <= clock.uncertainty_s + 0.01


def test_unreadable_clock_is_a_target_error() -> None:
    with pytest.raises(TargetError, match=r"cannot read the clock of fake://host: `date -u \+%s` printed 'garbage'"):
        measure_clock_offset(_FakeClockTarget({"date -u +%s.%N": "garbage", "date -u +%s": "garbage"}))

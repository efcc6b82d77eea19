"""Verdicts: per expected signal, did the telemetry appear and did the named detections fire on it.

    suite = DetectionSuite("detections")
    result = suite.evaluate(sigma_events, defender_rows, now, queries)
    verdict = judge_atomic(atomic_id, name, target, signals, args, sigma_events, defender_rows,
                           sensors, run_status, run_reason, result)
"""

from harness.verdicts.detect import DetectionResult, DetectionSuite, KqlOutcome
from harness.verdicts.judge import SensorState, judge_atomic, judge_control, judge_signal, matching_indexes
from harness.verdicts.layout import RecordedDetonation, load_detonation, load_run
from harness.verdicts.message import failure_message
from harness.verdicts.model import (
    PASSING,
    SKIPPING,
    AtomicVerdict,
    EngineVerdict,
    RuleResult,
    SignalVerdict,
    Verdict,
    worst,
)

__all__ = [
    "PASSING", "SKIPPING", "AtomicVerdict", "DetectionResult", "DetectionSuite", "EngineVerdict", "KqlOutcome",
    "RecordedDetonation", "RuleResult", "SensorState", "SignalVerdict", "Verdict", "failure_message",
    "judge_atomic", "judge_control", "judge_signal", "load_detonation", "load_run", "matching_indexes", "worst",
]

"""Telemetry: streaming parsers (:mod:`harness.telemetry.parsers`), redaction of secrets
(:mod:`harness.telemetry.redaction`) and attribution to a detonation
(:mod:`harness.telemetry.attribution`); collectors live in ``harness.telemetry.collectors``."""

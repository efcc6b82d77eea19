"""The validation run: the product's central object, shared by every front end (the pytest plugin,
``harness run``, ``harness nightly``) and read by the evidence layer."""

from harness.run.model import AtomicOutcome, iso, parse_now, sha256_text, utc_now
from harness.run.validation import ValidationRun

__all__ = ["AtomicOutcome", "ValidationRun", "iso", "parse_now", "sha256_text", "utc_now"]

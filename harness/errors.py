"""One error hierarchy for the whole harness.

Every error can carry where it came from (file, line, column) and prints it in the
``path:line:col: message`` form editors and CI annotations understand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLocation:
    """A position in a source file. ``line`` and ``column`` are 1-based; either may be unknown."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        out = self.path
        if self.line is not None:
            out += f":{self.line}"
            if self.column is not None:
                out += f":{self.column}"
        return out


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""

    def __init__(self, message: str, location: SourceLocation | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class ErrorCollection(HarnessError):
    """Several errors found in one pass (a loader reports every problem at once)."""

    def __init__(self, errors: list[HarnessError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors) or "no errors")


class ConfigError(HarnessError):
    """Invalid configuration (lab config, CLI arguments)."""


class AtomicDefinitionError(HarnessError):
    """An atomic YAML or expectations file is invalid."""


class TargetError(HarnessError):
    """A target could not be reached or a command could not be run on it."""


class LabError(HarnessError):
    """The lab could not be built, probed or torn down."""


class ScopeError(HarnessError):
    """A scan or lookup target lies outside the lab's declared scope."""


class TelemetryError(HarnessError):
    """Telemetry could not be collected or parsed."""


class RuleError(HarnessError):
    """A detection rule (Sigma or KQL) is invalid or unsupported."""


class UnsupportedError(RuleError):
    """A rule uses a feature the local engine does not implement; never silently ignored."""

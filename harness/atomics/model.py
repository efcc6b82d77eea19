"""Typed, frozen model of an atomic technique (Atomic Red Team schema) and its expected signals.

The ART part mirrors ``atomic_red_team/models.py`` of redcanaryco/atomic-red-team (the schema its
own validator enforces); the signal part is this project's sidecar (``<technique>.signals.yaml``,
documented in ``atomics/README.md``) that says what telemetry each test must leave and which
detections must fire on it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Final

from harness.errors import ConfigError, SourceLocation

#: Id of the negative control (the benign detonation that must fire nothing) in layouts and evidence.
NEGATIVE_CONTROL_ID: Final = "negative-control"

# --- Vocabulary mirrored from Atomic Red Team's validator --------------------------------------

#: Executor names ART accepts (``ExecutorType``).
EXECUTOR_NAMES: Final = ("manual", "powershell", "sh", "bash", "command_prompt")
#: Command executors the harness can run (it runs tests on Linux targets over SSH).
RUNNABLE_EXECUTORS: Final = ("sh", "bash")
#: Platforms ART accepts (``Platform``).
PLATFORMS: Final = (
    "windows",
    "macos",
    "linux",
    "office-365",
    "azure-ad",
    "google-workspace",
    "saas",
    "iaas",
    "containers",
    "iaas:gcp",
    "iaas:azure",
    "iaas:aws",
    "esxi",
)
#: Input argument types ART accepts, with the capitalised spellings its validator also takes.
INPUT_ARGUMENT_TYPES: Final = (
    "url",
    "Url",
    "string",
    "String",
    "path",
    "Path",
    "integer",
    "Integer",
    "float",
    "Float",
)
#: ``#{name}`` placeholders, exactly as ART extracts them (non-greedy, any characters).
PLACEHOLDER_RE: Final = re.compile(r"#\{(.*?)\}")
#: ART's atomics-folder token, replaced after the arguments as Invoke-AtomicRedTeam does
#: (``$PathToAtomicsFolder`` first, then the bare word; PowerShell's ``-replace`` ignores case).
ATOMICS_FOLDER_RE: Final = re.compile(r"\$?PathToAtomicsFolder", re.IGNORECASE)
#: The platform the harness runs tests on.
TARGET_PLATFORM: Final = "linux"

# --- Vocabulary of the signals sidecar ----------------------------------------------------------

#: Telemetry sources (and sensors) a signal can name.
SIGNAL_SOURCES: Final = ("auditd", "sysmon", "dns", "proxy", "firewall", "inet")
#: Which parsed-record sources (``Record.source`` / the Sigma view's ``meta.source``) carry each
#: telemetry source. nftables ``log level audit`` records stay raw auditd records (type NETFILTER_PKT).
SOURCE_RECORDS: Final[Mapping[str, tuple[str, ...]]] = {
    "auditd": ("auditd",),
    "sysmon": ("sysmon",),
    "dns": ("dnsmasq",),
    "proxy": ("squid",),
    "firewall": ("nflog",),
    "inet": ("inet",),
}
#: Proxy modes: transparent interception (default) or an explicit proxy with basic auth.
PROXY_MODES: Final = ("transparent", "explicit")
#: Field modifiers a match condition may use (a subset of Sigma's, same meaning).
MATCH_MODIFIERS: Final = ("contains", "startswith", "endswith", "re", "cidr", "all")
#: The logsource keys a match may constrain.
LOGSOURCE_KEYS: Final = ("product", "service", "category")


@dataclass(frozen=True)
class InputArgument:
    """One ``input_arguments`` entry. ``default`` keeps its YAML type (str, int, float or None)."""

    name: str
    description: str
    type: str
    default: str | int | float | None

    def default_text(self) -> str:
        """The default as it is substituted into a command (``None`` becomes the empty string)."""
        return "" if self.default is None else str(self.default)


@dataclass(frozen=True)
class Dependency:
    """A prerequisite: ``prereq_command`` exits 0 when it is met, ``get_prereq_command`` meets it."""

    description: str
    prereq_command: str
    get_prereq_command: str | None


@dataclass(frozen=True)
class Executor:
    """How the test runs: ``command`` then ``cleanup_command`` under shell ``name``.

    A ``manual`` executor has ``steps`` for a person instead (and an empty ``command``).
    """

    name: str
    command: str
    cleanup_command: str | None = None
    elevation_required: bool = False
    steps: str | None = None


@dataclass(frozen=True)
class AtomicTest:
    """One atomic test. ``id`` is ``<technique>-<position>`` (1-based), as ART numbers tests."""

    id: str
    guid: str
    name: str
    description: str
    supported_platforms: tuple[str, ...]
    input_arguments: Mapping[str, InputArgument]
    dependency_executor_name: str | None
    dependencies: tuple[Dependency, ...]
    executor: Executor
    location: SourceLocation | None = field(default=None, compare=False)

    def arguments(self, args: Mapping[str, str] | None = None) -> dict[str, str]:
        """Input argument values: the defaults overridden by ``args``.

        Raises ConfigError for an argument the test does not declare or an integer/float argument
        whose value is not a number (such values would otherwise reach a shell unchecked).
        """
        args = dict(args or {})
        unknown = sorted(set(args) - set(self.input_arguments))
        if unknown:
            raise ConfigError(
                f"{self.id}: unknown input argument(s) {', '.join(unknown)}; "
                f"declared: {', '.join(sorted(self.input_arguments)) or 'none'}"
            )
        values: dict[str, str] = {}
        for name, arg in self.input_arguments.items():
            if name not in args:
                values[name] = arg.default_text()
                continue
            value = str(args[name])
            kind = arg.type.lower()
            if kind == "integer" and not re.fullmatch(r"-?\d+", value):
                raise ConfigError(f"{self.id}: input argument {name} must be an integer, got {value!r}")
            if kind == "float" and not re.fullmatch(r"-?\d+(\.\d+)?", value):
                raise ConfigError(f"{self.id}: input argument {name} must be a number, got {value!r}")
            values[name] = value
        return values

    def render(self, command: str, args: Mapping[str, str] | None = None, atomics_folder: str | None = None) -> str:
        """Substitute every ``#{name}`` in ``command`` with its value (defaults overridden by args),
        then ART's ``PathToAtomicsFolder`` with ``atomics_folder`` when one is given.

        Like ART, values are inserted verbatim: the command text is responsible for its quoting.
        """
        values = self.arguments(args)

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ConfigError(f"{self.id}: command uses undeclared input argument #{{{name}}}")
            return values[name]

        text = PLACEHOLDER_RE.sub(substitute, command)
        if atomics_folder is not None:
            text = ATOMICS_FOLDER_RE.sub(lambda _: atomics_folder, text)
        return text

    def not_applicable(self, platform: str = TARGET_PLATFORM) -> str | None:
        """Why the harness cannot run this test on a ``platform`` target, or ``None`` if it can.

        Upstream files mix platforms and executors; such tests load and are listed with this
        reason instead of being rejected.
        """
        if platform not in self.supported_platforms:
            return f"for {', '.join(self.supported_platforms)}, not {platform}"
        name = self.executor.name
        if name == "manual":
            return "manual executor: steps for a person to follow, no command to run"
        if name not in RUNNABLE_EXECUTORS:
            return f"executor {name}: the harness runs only {' or '.join(RUNNABLE_EXECUTORS)} on {platform} targets"
        dep = self.dependency_executor_name
        if self.dependencies and dep is not None and dep not in RUNNABLE_EXECUTORS:
            return f"prerequisites use the {dep} executor: the harness runs only {' or '.join(RUNNABLE_EXECUTORS)}"
        return None


@dataclass(frozen=True)
class Technique:
    """An ART technique file: its ATT&CK id, display name and ordered tests."""

    attack_technique: str
    display_name: str
    atomic_tests: tuple[AtomicTest, ...]
    path: str = ""

    @property
    def atomics_folder(self) -> str | None:
        """The ``atomics/`` folder this file sits in (``<folder>/<T>/<T>.yaml``), for ``PathToAtomicsFolder``."""
        if not self.path:
            return None
        return str(PurePath(self.path).parent.parent)

    def find(self, id_or_guid: str) -> AtomicTest:
        """The test whose id (``T1590.005-3``), position (``3``) or GUID is given; ConfigError if none."""
        key = id_or_guid.strip().lower()
        for test in self.atomic_tests:
            if key in (test.id.lower(), test.guid.lower(), test.id.rsplit("-", 1)[1]):
                return test
        known = ", ".join(f"{t.id} ({t.guid})" for t in self.atomic_tests)
        raise ConfigError(f"no atomic test {id_or_guid!r} in {self.attack_technique}; known: {known}")


# --- Expected signals --------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldCondition:
    """One ``Field|modifier…: value(s)`` condition of a match spec (see atomics/README.md)."""

    field: str
    modifiers: tuple[str, ...]
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return "|".join((self.field, *self.modifiers))

    def holds(self, event: Mapping[str, object], args: Mapping[str, str] | None = None) -> bool:
        """Whether the condition holds on one Sigma-view ``event`` (its field mapping)."""
        raw = event.get(self.field)
        if raw is None:
            return False
        candidates = [_text(v) for v in raw] if isinstance(raw, list | tuple) else [_text(raw)]
        needles = [PLACEHOLDER_RE.sub(lambda m: (args or {}).get(m.group(1), m.group(0)), v) for v in self.values]
        test = all if "all" in self.modifiers else any
        return test(any(self._compare(c, n) for c in candidates) for n in needles)

    def _compare(self, value: str, needle: str) -> bool:
        if "re" in self.modifiers:
            return re.search(needle, value) is not None
        if "cidr" in self.modifiers:
            try:
                return ipaddress.ip_address(value) in ipaddress.ip_network(needle, strict=False)
            except ValueError:
                return False
        value, needle = value.lower(), needle.lower()
        if "contains" in self.modifiers:
            return needle in value
        if "startswith" in self.modifiers:
            return value.startswith(needle)
        if "endswith" in self.modifiers:
            return value.endswith(needle)
        return value == needle


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Match:
    """Declarative test for "this telemetry is present" on the Sigma view of a detonation.

    An event matches when every given ``logsource`` key equals the event's (case-insensitive) and
    every condition holds; the signal is present when at least ``min_count`` events from the
    signal's source match.
    """

    logsource: Mapping[str, str]
    conditions: tuple[FieldCondition, ...]
    min_count: int = 1

    def matches(self, line: Mapping[str, object], args: Mapping[str, str] | None = None) -> bool:
        """Whether one Sigma-view line (``{"logsource": …, "event": …}``) matches."""
        logsource = line.get("logsource")
        event = line.get("event")
        if not isinstance(logsource, Mapping) or not isinstance(event, Mapping):
            return False
        for key, wanted in self.logsource.items():
            have = logsource.get(key)
            if not isinstance(have, str) or have.lower() != wanted.lower():
                return False
        return all(c.holds(event, args) for c in self.conditions)


@dataclass(frozen=True)
class KqlExpectation:
    """A KQL query file (repository-relative) and the ``DetectionBranch`` value it must return."""

    query: str
    branch: str


@dataclass(frozen=True)
class Detections:
    """Detections that must fire on a signal. Both empty means "telemetry only, no detection"."""

    sigma: tuple[str, ...] = ()
    kql: tuple[KqlExpectation, ...] = ()


@dataclass(frozen=True)
class Signal:
    """One expected signal of one atomic test."""

    id: str
    description: str
    source: str
    sensor: str
    match: Match
    detections: Detections
    modes: tuple[str, ...] = PROXY_MODES
    location: SourceLocation | None = field(default=None, compare=False)
    #: Sensors whose records fill fields the match needs (DestinationHostname from the resolver's
    #: answers): without one of them the signal cannot be judged on this target.
    enriched_by: tuple[str, ...] = ()

    def applies_to(self, mode: str) -> bool:
        return mode in self.modes

    @property
    def record_sources(self) -> tuple[str, ...]:
        """Parsed-record sources (Sigma view ``meta.source``) this signal is evaluated on."""
        return SOURCE_RECORDS[self.source]


@dataclass(frozen=True)
class Expectation:
    """Everything expected of one atomic test: its secret arguments and its signals."""

    guid: str
    atomic_id: str
    secrets: tuple[str, ...]
    signals: tuple[Signal, ...]

    def for_mode(self, mode: str) -> tuple[Signal, ...]:
        return tuple(s for s in self.signals if s.applies_to(mode))


@dataclass(frozen=True)
class TechniqueSignals:
    """The signals sidecar of one technique, keyed by test GUID."""

    attack_technique: str
    expectations: Mapping[str, Expectation]
    path: str = ""

    def for_test(self, test: AtomicTest) -> Expectation:
        """The expectation of ``test``; a test without one expects no signal and has no secrets."""
        return self.expectations.get(test.guid, Expectation(test.guid, test.id, (), ()))

    @property
    def declared(self) -> bool:
        """Whether a sidecar declared these expectations (without one, a run is judged telemetry-first)."""
        return bool(self.path)

    def secrets(self, test: AtomicTest) -> tuple[str, ...]:
        return self.for_test(test).secrets

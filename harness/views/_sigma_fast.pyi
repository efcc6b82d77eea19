from collections.abc import Callable, Iterator
from types import NotImplementedType
from typing import Any

from harness.telemetry.parsers._auditd_fast import Grouper
from harness.views.activity import ActivityExtractor
from harness.views.events import EventMeta, LogSource, SigmaEvent

#: ProcessInfo's fields as the C code builds them (the C contract; tests/views/test_c_contract.py)
PROCESSINFO_FIELDS: tuple[str, ...]

class AuditdSigmaStream:
    parsed: int
    def __iter__(self) -> Iterator[list[SigmaEvent]]: ...
    def __next__(self) -> list[SigmaEvent]: ...

class AuditdSigma:
    def __init__(
        self,
        extractor: ActivityExtractor,
        process_info: type,
        raw_logsource: LogSource,
        to_int: Callable[[Any], int | None],
        syscalls: dict[str, str],
        normpath: Callable[[str], str],
        iso_utc: Callable[[float | None], str | None],
        raw: bool,
        meta: bool,
    ) -> None: ...
    # NotImplemented: a record the C view leaves to the Python one
    def events(
        self, records: list[dict[str, Any]], time: float | None, meta: EventMeta | None, /
    ) -> list[SigmaEvent] | NotImplementedType: ...
    def stream(self, grouper: Grouper, file: str, build: Callable[..., object], /) -> AuditdSigmaStream: ...

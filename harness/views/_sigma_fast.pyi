from collections.abc import Callable, Iterator
from typing import Any

from harness.telemetry.parsers._auditd_fast import Grouper

#: ProcessInfo's fields as the C code builds them (the C contract; tests/views/test_c_contract.py)
PROCESSINFO_FIELDS: tuple[str, ...]

class AuditdSigmaStream:
    parsed: int
    def __iter__(self) -> Iterator[list[dict[str, Any]]]: ...
    def __next__(self) -> list[dict[str, Any]]: ...

class AuditdSigma:
    def __init__(
        self,
        extractor: Any,
        process_info: type,
        raw_logsource: dict[str, Any],
        to_int: Callable[[Any], int | None],
        syscalls: dict[str, str],
        normpath: Callable[[str], str],
        iso_utc: Callable[[float | None], str | None],
        raw: bool,
        meta: bool,
    ) -> None: ...
    def events(self, records: list[dict[str, Any]], time: float | None, meta: dict[str, Any] | None, /) -> Any: ...
    def stream(self, grouper: Grouper, file: str, build: Callable[..., Any], /) -> AuditdSigmaStream: ...

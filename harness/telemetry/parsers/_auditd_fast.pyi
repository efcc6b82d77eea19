from collections.abc import Callable, Iterable
from typing import Any, BinaryIO

def parse_line(line: str, /) -> tuple[str | None, str, str, dict[str, Any]] | None: ...
def configure(
    syscall_names: dict[str, str],
    sockaddr_decoder: Callable[[str], dict[str, Any]],
    sockaddr_cache: dict[str, dict[str, Any]],
    /,
) -> None: ...

class Grouper:
    read: int
    truncated: int
    open_events: dict[str, object]
    def __init__(
        self,
        lines: Iterable[str],
        slow: Callable[[str, int], tuple[str | None, str, str, dict[str, Any]] | None],
        bad: Callable[[int, str], None],
        lazy: Callable[[dict[str, Any]], None],
        window: int,
        max_records: int,
        *,
        raw: BinaryIO | None = None,
        block: int = ...,
        max_chars: int = ...,
    ) -> None: ...
    def __iter__(self) -> Grouper: ...
    def __next__(self) -> tuple[str | None, str, int, list[dict[str, Any]], int, bool]: ...

"""A progress bar on stderr for commands that stream large input files."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from harness.telemetry.inputs import open_binary


class Progress:
    """Bytes read of regular input files (compressed bytes for ``.gz``), drawn at most 5 times a
    second as ``[#####.....]  45%  108/240 MB  3.2 s`` on one rewritten line."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.done = 0  # bytes of the files already closed
        self._current: Any = None  # the open file whose position counts
        self._started = self._drawn = time.monotonic()

    @classmethod
    def for_inputs(cls, names: list[str], min_bytes: int, stream: IO[str] | None = None) -> Progress | None:
        """A bar when ``stream`` (stderr) is a terminal and the inputs are regular files of at
        least ``min_bytes`` together; None otherwise (stdin, small inputs, output to a file)."""
        out = stream if stream is not None else sys.stderr
        if not out.isatty() or any(n == "-" or not Path(n).is_file() for n in names):
            return None
        total = sum(Path(n).stat().st_size for n in names)
        return cls(total, out) if total >= min_bytes else None

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        """:func:`open_binary`, its reads counted (an ``Opener`` for ``parse.view_items``)."""
        with open_binary(name) as raw:
            # gzip streams count their compressed position (the file's size is the total)
            self._current = getattr(raw, "fileobj", None) or raw
            try:
                yield _Counted(raw, self)  # type: ignore[misc]
            finally:
                self.done += Path(name).stat().st_size
                self._current = None

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._drawn < 0.2:
            return
        self._drawn = now
        pos = self.done + (self._current.tell() if self._current is not None else 0)
        frac = min(pos / self.total, 1.0)
        bar = "#" * int(frac * 30)
        mb = f"{pos / 1e6:,.0f}/{self.total / 1e6:,.0f} MB"
        self.stream.write(f"\r[{bar:<30}] {frac * 100:5.1f}%  {mb}  {now - self._started:.1f} s")
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar."""
        self.stream.write("\r" + " " * 72 + "\r")
        self.stream.flush()


class _Counted:
    """A binary file whose ``read`` redraws the bar (the C audit reader calls it once per MB)."""

    def __init__(self, raw: BinaryIO, progress: Progress) -> None:
        self._raw = raw
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._progress.tick()
        return data

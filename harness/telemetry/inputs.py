"""How every command opens a log or table it reads: a path, gzip-compressed or not, or ``-`` for
standard input (compressed or not).

Compression is recognised by content (the gzip magic bytes), not by name, so ``auditd.log.gz``,
a rotated ``audit.log.1.gz`` and ``zcat``-less pipes all work alike. The readers keep their fast
paths: the C auditd reader pulls bytes through the binary file object this opens, and readers
that need a real file (DuckDB, the EVTX library) get one from :func:`local_path`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, cast

from harness.errors import TelemetryError

STDIN = "-"
GZIP_MAGIC = b"\x1f\x8b"


def is_stdin(path: str | Path) -> bool:
    return str(path) == STDIN


def check_input(path: str | Path) -> None:
    """TelemetryError unless ``path`` is ``-`` or an existing file."""
    if not is_stdin(path) and not Path(path).is_file():
        raise TelemetryError(f"{path}: no such file")


class _Prefixed(io.RawIOBase):
    """A binary reader that hands out ``head`` (bytes already read to sniff the format) before
    the rest of ``raw``: standard input cannot seek back. An io.RawIOBase, so that a
    TextIOWrapper (``sigma match --events -``) can read it too."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        super().__init__()
        self._head, self._raw = head, raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._raw.read(size)
        if size is None or size < 0:
            out, self._head = self._head + self._raw.read(), b""
            return out
        out, self._head = self._head[:size], self._head[size:]
        return out


@contextmanager
def open_binary(path: str | Path) -> Iterator[BinaryIO]:
    """The decompressed bytes of ``path`` (``-``: standard input), gzip or plain."""
    if is_stdin(path):
        raw: BinaryIO = sys.stdin.buffer
        owned = False
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise TelemetryError(f"{path}: cannot open: {exc.strerror or exc}") from exc
        owned = True
    try:
        head = raw.read(2)
        if raw.seekable():
            raw.seek(0)
            source: BinaryIO = raw
        else:
            source = cast(BinaryIO, _Prefixed(head, raw))
        if head == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=source, mode="rb") as gz:
                yield cast(BinaryIO, gz)
        else:
            yield source
    finally:
        if owned:
            raw.close()


@contextmanager
def local_path(path: str | Path, *, decompress: bool, suffix: str = "") -> Iterator[Path]:
    """A real file holding ``path``'s content, for readers that need a file name: ``path``
    itself when it is already one (and plain, if ``decompress``); else a temporary copy of
    standard input or of the decompressed file, removed afterwards. A gzip copy of standard
    input that is kept compressed is named ``….gz`` so that readers which decompress by
    extension (DuckDB) do."""
    if not is_stdin(path) and Path(path).is_file():
        with open(path, "rb") as fh:
            compressed = fh.read(2) == GZIP_MAGIC
        if not (decompress and compressed):
            yield Path(path)
            return
    # standard input and the other one-pass inputs (a FIFO, a shell's <(...)) are spooled
    fd, name = tempfile.mkstemp(prefix="recon-harness-input-", suffix=suffix)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            if decompress:
                with open_binary(path) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            else:
                with contextlib.ExitStack() as stack:
                    src = sys.stdin.buffer if is_stdin(path) else stack.enter_context(open(path, "rb"))
                    head = src.read(2)
                    out.write(head)
                    shutil.copyfileobj(src, out, 1 << 20)
                if head == GZIP_MAGIC:
                    gz = tmp.with_name(tmp.name + ".gz")
                    tmp.rename(gz)
                    tmp = gz
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)

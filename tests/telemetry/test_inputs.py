"""harness/telemetry/inputs.py: gzip or plain, a file or standard input, opened alike."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

import pytest

from harness.errors import TelemetryError
from harness.telemetry.inputs import check_input, local_path, open_binary

DATA = b"line one\nline two\n" * 1000


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """A standard input that cannot seek back, as a pipe."""

    class Pipe(io.BufferedReader):
        def seekable(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Pipe(io.BytesIO(data))))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_file_and_stdin_give_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    raw = gzip.compress(DATA) if compress else DATA
    path = tmp_path / "log"  # no .gz in the name: recognised by content
    path.write_bytes(raw)
    with open_binary(path) as fh:
        assert fh.read() == DATA
    _stdin(monkeypatch, raw)
    with open_binary("-") as fh:
        assert fh.read(1) == DATA[:1] and fh.read(5) + fh.read() == DATA[1:]


def test_local_path_spools_stdin_and_decompresses_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gz = tmp_path / "t.jsonl.gz"
    gz.write_bytes(gzip.compress(DATA))
    with local_path(gz, decompress=False) as p:
        assert p == gz  # DuckDB reads .gz itself: no copy
    with local_path(gz, decompress=True, suffix=".evtx") as p:
        assert p != gz and p.read_bytes() == DATA and p.suffix == ".evtx"
    assert not p.exists()  # the copy is removed afterwards
    _stdin(monkeypatch, gzip.compress(DATA))
    with local_path("-", decompress=False, suffix=".jsonl") as p:
        assert p.name.endswith(".jsonl.gz") and gzip.decompress(p.read_bytes()) == DATA
    assert not p.exists()


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    check_input("-")
    with pytest.raises(TelemetryError, match=r"nope: no such file$"):
        check_input(tmp_path / "nope")


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_stdin_reads_as_text_too(monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    # sigma match --events - wraps the stream in a TextIOWrapper (a pipe: the sniffed head is kept apart)
    _stdin(monkeypatch, gzip.compress(DATA) if compress else DATA)
    with open_binary("-") as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8")
        assert list(text) == DATA.decode().splitlines(keepends=True)
        text.detach()

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.packages import cache


def test_cache_dir_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    assert cache.cache_dir() == cache.DEFAULT_CACHE
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path))
    assert cache.cache_dir() == tmp_path


def test_pinned_file_accepted_unpinned_refused(tmp_path: Path) -> None:
    good = tmp_path / "tool-1.0.tar.gz"
    good.write_bytes(b"release")
    (tmp_path / cache.LOCAL_PINS_NAME).write_text(f"{hashlib.sha256(b'release').hexdigest()}  tool-1.0.tar.gz\n")
    assert cache.find_pinned("tool-1.0.tar.gz", tmp_path) == good
    assert cache.find_pinned("absent.tar.gz", tmp_path) is None
    good.write_bytes(b"tampered")
    with pytest.raises(cache.PinError, match="matches no pin"):
        cache.find_pinned("tool-1.0.tar.gz", tmp_path)
    (tmp_path / "other.tar.gz").write_bytes(b"x")
    with pytest.raises(cache.PinError, match="no pin for this file name"):
        cache.find_pinned("other.tar.gz", tmp_path)


def test_malformed_pin_file_is_located(tmp_path: Path) -> None:
    (tmp_path / cache.LOCAL_PINS_NAME).write_text("# mine\nnot-a-hash  x.tar.gz\n")
    with pytest.raises(cache.PinError) as info:
        cache.load_pins(tmp_path)
    assert str(info.value).endswith(f"{cache.LOCAL_PINS_NAME}:2:1: expected '<sha256>  <file name>'")


def test_project_pins_name_the_harvester_release() -> None:
    names = {p.name for p in cache.load_pins(Path("/nonexistent"))}
    assert "theHarvester-4.6.0.tar.gz" in names

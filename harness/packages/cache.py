"""Where the offline package cache is, and how a file in it is checked against its pin."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, HarnessError, SourceLocation

ENV_VAR = "RECON_HARNESS_PACKAGE_CACHE"
DEFAULT_CACHE = Path("/var/cache/recon-harness/packages")
#: The project's pins: one ``<sha256>  <file name>`` line per artifact (``sha256sum`` format).
PROJECT_PINS = Path(__file__).with_name("pins.sha256")
#: A user's own pins, for their own downloads of the same versions (same format).
LOCAL_PINS_NAME = "local-pins.sha256"


class PinError(ConfigError):
    """A cache file matches no pin, or a pin file is malformed."""


class PackageUnavailable(HarnessError):
    """An artifact is neither in the cache nor obtainable from upstream (the message says where to get it)."""


@dataclass(frozen=True)
class Pin:
    sha256: str
    name: str
    origin: SourceLocation


def cache_dir() -> Path:
    """The cache directory (it may not exist yet)."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value) if value else DEFAULT_CACHE


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_pin_file(path: Path) -> list[Pin]:
    pins: list[Pin] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return pins
    except OSError as exc:
        raise PinError(f"cannot read pin file: {exc.strerror}", SourceLocation(str(path))) from None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        digest, _, name = stripped.partition(" ")
        name = name.strip().lstrip("*")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()) or not name:
            raise PinError("expected '<sha256>  <file name>'", SourceLocation(str(path), lineno, 1))
        pins.append(Pin(digest.lower(), name, SourceLocation(str(path), lineno, 1)))
    return pins


def project_pins() -> list[Pin]:
    """The project's own pins only (what a build key may depend on: not a user's local pins)."""
    return _read_pin_file(PROJECT_PINS)


def load_pins(cache: Path | None = None) -> list[Pin]:
    """The project's pins, then the user's pins beside the cache."""
    directory = cache if cache is not None else cache_dir()
    return _read_pin_file(PROJECT_PINS) + _read_pin_file(directory / LOCAL_PINS_NAME)


def find_pinned(name: str, cache: Path | None = None) -> Path | None:
    """The cache's file ``name`` when it is there and matches one of its pins; None when absent.

    A present file whose hash matches no pin for that name is refused with ``PinError``: a cache is
    only as trustworthy as its pins.
    """
    directory = cache if cache is not None else cache_dir()
    path = directory / name
    if not path.is_file():
        return None
    check_pinned(path, name, directory)
    return path


def check_pinned(path: Path, name: str, cache: Path | None = None) -> None:
    """Raise ``PinError`` unless ``path`` matches a pin for the artifact ``name`` (any location)."""
    directory = cache if cache is not None else cache_dir()
    pins = load_pins(directory)
    wanted = {p.sha256 for p in pins if p.name == name}
    # gzip output differs between compressors (GitHub's archive vs. a local `git archive`): a .gz
    # whose decompressed content matches the pin of the name without .gz is the same artifact.
    inner = {p.sha256 for p in pins if name.endswith(".gz") and p.name == name[:-3]}
    if not wanted and not inner:
        raise PinError(f"{path}: no pin for this file name (add one to {directory / LOCAL_PINS_NAME})")
    actual = sha256_file(path)
    if actual in wanted or (inner and gunzip_sha256(path) in inner):
        return
    raise PinError(f"{path}: SHA-256 {actual} matches no pin for {name}; refusing it")


def gunzip_sha256(path: Path) -> str | None:
    """SHA-256 of a gzip file's decompressed content; None when it is not valid gzip."""
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return digest.hexdigest()

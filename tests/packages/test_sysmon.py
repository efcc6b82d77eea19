"""Sysmon's build key and cache lookup (harness/packages/sysmon.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.packages import sysmon

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    for rel in sysmon.BUILD_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def test_key_is_stable_and_follows_every_build_file(root: Path) -> None:
    key = sysmon.input_key(root)
    assert key == sysmon.input_key(root) == sysmon.input_key(ROOT)
    for rel in sysmon.BUILD_FILES:
        original = (root / rel).read_bytes()
        (root / rel).write_bytes(original + b"\n")
        assert sysmon.input_key(root) != key, rel
        (root / rel).write_bytes(original)
    assert sysmon.input_key(root) == key


def test_key_needs_every_source_pin(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setattr(sysmon, "SOURCES", (*sysmon.SOURCES, "Unpinned-1.0.tar.gz"))
    with pytest.raises(KeyError, match=r"Unpinned-1\.0\.tar\.gz"):
        sysmon.input_key(root)


def _fill(directory: Path, *names: str, buildinfo: bool = True) -> None:
    directory.mkdir(parents=True)
    for n in names:
        (directory / n).write_bytes(b"deb")
    if buildinfo:
        (directory / "BUILDINFO").write_text("key\n")


def test_find_packages_only_a_complete_build(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert sysmon.find_packages(cache) is None
    d = sysmon.build_dir(cache)
    assert d.parent == cache / "sysmon" and len(d.name) == 16
    _fill(d, "sysinternalsebpf_1.6.0_amd64.deb", "sysmonforlinux_0.0.0_amd64.deb", buildinfo=False)
    assert sysmon.find_packages(cache) is None  # interrupted build: no BUILDINFO yet
    (d / "BUILDINFO").write_text("key\n")
    found = sysmon.find_packages(cache)
    assert found is not None and found.sysmonforlinux.name == "sysmonforlinux_0.0.0_amd64.deb"
    (d / "sysmonforlinux_9.9.9_amd64.deb").write_bytes(b"deb")
    assert sysmon.find_packages(cache) is None  # ambiguous


def test_missing_reason_names_cache_path_and_build_command(tmp_path: Path) -> None:
    why = sysmon.missing_reason(tmp_path)
    assert str(sysmon.build_dir(tmp_path)) in why and sysmon.BUILD_COMMAND in why


def test_cli_key_matches_module_outside_the_venv() -> None:
    # build-debs.sh runs this with the system python3 and PYTHONPATH only.
    out = subprocess.run([sys.executable, "-m", "harness.packages.sysmon", "key"], cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == sysmon.input_key()

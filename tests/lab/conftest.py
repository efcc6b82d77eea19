import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config: Any, items: Any) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: builds the embedded lab (network namespaces, sshd, dnsmasq)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """TMPDIR of the harness processes a test starts: whatever they leave in it is a leak (the
    testinfra inspector's ssh_config and known_hosts once were), so it is checked afterwards."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    yield tmp
    left = sorted(p.name for p in tmp.iterdir() if p.name.startswith("recon-harness-"))
    assert not left, f"the harness left temporary files behind: {left}"


def harness(*args: str, check: bool = True, **kw: Any) -> Any:
    """Run the real console script, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=kw.pop("timeout", 300), **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"harness {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc

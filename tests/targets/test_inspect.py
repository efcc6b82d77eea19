"""The testinfra inspector leaves no temporary files behind, also when it fails half-way."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import testinfra

from harness.targets.inspect import TargetInspector
from harness.targets.local import LocalTarget
from harness.targets.ssh import SSHTarget


class _Key:
    def get_name(self) -> str:
        return "ssh-ed25519"

    def get_base64(self) -> str:
        return "AAAAC3NzaC1lZDI1NTE5AAAAIHb6o6rQq0mUGh0bVb5y8Q4XoX2Qm1fJxg3oEUlqvFvS"


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SSHTarget:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp puts the inspector's files
    monkeypatch.setattr(SSHTarget, "verified_host_key", lambda self: _Key())  # no host to connect to here
    return SSHTarget("127.0.0.1", port=2222)


def test_close_removes_the_ssh_config_and_known_hosts(target: SSHTarget, tmp_path: Path) -> None:
    with TargetInspector(target) as inspector:
        (made,) = tmp_path.glob("recon-harness-testinfra-*")
        assert sorted(p.name for p in made.iterdir()) == ["known_hosts", "ssh_config"]
        assert inspector.host is not None
    assert not list(tmp_path.glob("recon-harness-testinfra-*"))


def test_a_failure_while_building_removes_them_too(
    target: SSHTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("testinfra backend unavailable")

    monkeypatch.setattr(testinfra, "get_host", broken)
    with pytest.raises(RuntimeError, match="backend unavailable"):
        TargetInspector(target)
    assert not list(tmp_path.glob("recon-harness-testinfra-*"))


def test_existing_paths_checks_many_paths_in_one_command(tmp_path: Path) -> None:
    """Names with spaces and quotes survive; a dangling symlink does not exist (``test -e``, as
    testinfra's File.exists); order follows the question; one command for all."""
    odd = tmp_path / "it's a \"file\" $HOME"
    odd.write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    calls: list[str] = []

    class Counting(LocalTarget):
        def run(self, command: str, **kwargs: Any) -> Any:
            calls.append(command)
            return super().run(command, **kwargs)

    inspector = TargetInspector(Counting())
    asked = [str(tmp_path / "dir"), str(tmp_path / "missing"), str(odd), str(tmp_path / "dangling")]
    assert inspector.existing_paths(asked) == [str(tmp_path / "dir"), str(odd)]
    assert len(calls) == 1
    assert inspector.existing_paths([]) == [] and len(calls) == 1

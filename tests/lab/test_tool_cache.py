"""The embedded lab's cached tools without root: theHarvester's venv recorded in the state file (an
interrupted install is removed at down, a finished one kept), the lab CA in its certifi bundle only
while the lab is up, and `lab purge` removing the tools but never the offline package cache."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.lab import teardown
from harness.lab.config import load_lab_config
from harness.lab.embedded import EmbeddedLab
from harness.lab.state import LabState, Resource
from harness.packages import ENV_VAR, PackageUnavailable, theharvester


def _lab(tmp_path: Path) -> EmbeddedLab:
    cfg = dataclasses.replace(load_lab_config(), cache_dir=tmp_path / "cache", state_dir=tmp_path / "state")
    return EmbeddedLab(cfg)


def _venv(lab: EmbeddedLab, finished: bool) -> Path:
    venv = lab.harvester_venv
    bundle = venv / "lib" / "python3.11" / "site-packages" / "certifi" / "cacert.pem"
    bundle.parent.mkdir(parents=True)
    bundle.write_text("-----BEGIN CERTIFICATE-----\npublic\n-----END CERTIFICATE-----\n")
    if finished:
        (venv / theharvester.MARKER).write_text(f"theHarvester {theharvester.VERSION} x\n")
    return venv


def test_venv_is_a_cached_tool_location(tmp_path: Path) -> None:
    lab = EmbeddedLab(load_lab_config())
    assert lab.harvester_venv == Path("/var/cache/recon-harness/theHarvester-4.6.0")
    assert _lab(tmp_path).harvester_venv == tmp_path / "cache" / "theHarvester-4.6.0"


@pytest.mark.parametrize("finished", [True, False])
def test_down_removes_only_an_interrupted_install(tmp_path: Path, finished: bool) -> None:
    lab = _lab(tmp_path)
    venv = _venv(lab, finished)
    msg = teardown.undo(Resource("tool_venv", str(venv), {"marker": theharvester.MARKER}))
    assert venv.exists() is finished
    assert (msg is None) is finished


def test_failed_provisioning_records_the_reason_and_leaves_no_venv(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    lab = _lab(tmp_path)
    state = LabState(tmp_path / "state" / "state.json", "rah")

    def unavailable(venv: Path, cache: Path | None = None, **_: object) -> Path:
        venv.mkdir(parents=True)  # half an install
        raise PackageUnavailable("theHarvester 4.6.0 is not in the offline package cache (x)")

    monkeypatch.setattr(theharvester, "ensure", unavailable)
    lab._provision_harvester(state)
    saved = LabState.load(tmp_path / "state")
    assert saved is not None and [r.kind for r in saved.resources] == ["tool_venv"]  # recorded first
    assert "not in the offline package cache" in state.info["theharvester"]
    assert not lab.harvester_venv.exists()


def test_lab_ca_in_the_venv_only_while_up(tmp_path: Path) -> None:
    lab = _lab(tmp_path)
    venv = _venv(lab, True)
    bundle = theharvester.certifi_bundle(venv)
    assert bundle is not None
    original = bundle.read_bytes()
    lab.pki_dir.mkdir(parents=True)
    lab.ca_bundle.write_text("-----BEGIN CERTIFICATE-----\nlab CA\n-----END CERTIFICATE-----\n")
    state = LabState(tmp_path / "state" / "state.json", "rah")
    lab._trust_ca_in_tool_venv(state)
    assert b"lab CA" in bundle.read_bytes() and bundle.read_bytes().startswith(original)
    saved = LabState.load(tmp_path / "state")
    assert saved is not None
    (res,) = saved.resources
    assert res.kind == "venv_ca" and teardown.undo(res)
    assert bundle.read_bytes() == original
    assert teardown.undo(res) is None  # a second down has nothing to restore


def test_purge_keeps_the_offline_package_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lab = _lab(tmp_path)
    _venv(lab, True)
    (tmp_path / "cache" / "venv" / "bin").mkdir(parents=True)
    packages = tmp_path / "cache" / "packages"
    packages.mkdir()
    (packages / theharvester.ARCHIVE).write_bytes(b"release")
    monkeypatch.setenv(ENV_VAR, str(packages))
    removed = lab.purge_cache()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["packages"]
    assert (packages / theharvester.ARCHIVE).read_bytes() == b"release"
    assert f"dir {lab.harvester_venv}" in removed

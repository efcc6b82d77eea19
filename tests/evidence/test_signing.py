"""Signed evidence (sshsig): verify passes on the untouched set and fails on every kind of tampering."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import __version__
from harness.cli import main
from harness.evidence.signing import SIGNATURE, SIGNED, sign, verify

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (OpenSSH) is not installed")


def _key(tmp_path: Path, name: str) -> Path:
    key = tmp_path / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "evidence" / "20261203T000000Z-abc"
    (d / "raw").mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"run_id": "20261203T000000Z-abc"}) + "\n")
    (d / "report.html").write_text("<html>report</html>\n")
    (d / "raw" / "auditd.log").write_text("type=EXECVE msg=audit(1.0:1): argc=1 a0=\"nmap\"\n")
    key = _key(tmp_path, "signer")
    sign(d, key)
    return d, key


def test_untouched_evidence_verifies_and_names_run_and_version(signed: tuple[Path, Path]) -> None:
    d, key = signed
    result = verify(d, Path(f"{key}.pub"))
    assert result.ok, result.problems
    assert result.run_id == "20261203T000000Z-abc" and result.harness_version == __version__
    payload = json.loads((d / SIGNED).read_text())
    assert set(payload["files"]) == {"run.json", "report.html", "raw/auditd.log", "signer.pub"}
    assert main(["evidence", "verify", str(d), "--key", f"{key}.pub"]) == 0


def test_an_edited_file_fails(signed: tuple[Path, Path]) -> None:
    d, key = signed
    (d / "report.html").write_text("<html>ALERTED</html>\n")
    result = verify(d, Path(f"{key}.pub"))
    assert not result.ok and result.problems == ("report.html: changed after signing (SHA-256 differs)",)
    assert main(["evidence", "verify", str(d), "--key", f"{key}.pub"]) == 1


def test_a_removed_file_fails(signed: tuple[Path, Path]) -> None:
    d, key = signed
    (d / "raw" / "auditd.log").unlink()
    assert verify(d, Path(f"{key}.pub")).problems == ("raw/auditd.log: removed",)


def test_an_added_file_fails(signed: tuple[Path, Path]) -> None:
    d, key = signed
    (d / "extra.txt").write_text("planted\n")
    assert verify(d, Path(f"{key}.pub")).problems == ("extra.txt: added after signing",)


def test_a_rewritten_payload_fails_the_signature(signed: tuple[Path, Path]) -> None:
    d, key = signed
    payload = json.loads((d / SIGNED).read_text())
    payload["run_id"] = "another-run"
    (d / SIGNED).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    result = verify(d, Path(f"{key}.pub"))
    assert not result.ok and any("signature does not verify" in p for p in result.problems)


def test_a_wrong_key_fails(tmp_path: Path, signed: tuple[Path, Path]) -> None:
    d, _ = signed
    other = _key(tmp_path, "other")
    result = verify(d, Path(f"{other}.pub"))
    assert not result.ok and any("signature does not verify" in p for p in result.problems)
    # Re-signing with the wrong key (an attacker's) does not help against the auditor's public key.
    resigned = tmp_path / "copy"
    shutil.copytree(d, resigned)
    (resigned / "report.html").write_text("<html>forged</html>\n")
    sign(resigned, other)
    assert verify(resigned, Path(f"{other}.pub")).ok
    assert not verify(resigned, Path(f"{signed[1]}.pub")).ok


def test_unsigned_directory_and_missing_key(tmp_path: Path, signed: tuple[Path, Path]) -> None:
    d, _ = signed
    (d / SIGNATURE).unlink()
    assert not verify(d).ok
    assert main(["evidence", "sign", str(d)]) == 2

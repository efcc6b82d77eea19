"""Tamper-evident evidence: an OpenSSH signature (sshsig, ``ssh-keygen -Y sign``) over the run.

``SIGNED.json`` names the run id, the harness version and the SHA-256 of every file of the
evidence directory (sub-directories included); ``SIGNED.json.sig`` is its signature in the
``recon-harness-evidence`` namespace. MANIFEST.sha256 alone only catches accidents: whoever edits
a file can regenerate it. The signature cannot be regenerated without the private key, and
verification against the auditor's copy of the public key catches an edited, removed or added
file, and a signature made with another key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError

NAMESPACE = "recon-harness-evidence"
IDENTITY = "recon-harness"
SIGNED = "SIGNED.json"
SIGNATURE = "SIGNED.json.sig"
SIGNER_PUB = "signer.pub"
FORMAT = "recon-harness-evidence-signature/1"


class SignatureError(HarnessError):
    """Evidence could not be signed, or does not verify."""


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: tuple[str, ...]
    run_id: str
    harness_version: str
    files: int
    signer: str  # the public key file the signature was checked against


def _ssh_keygen(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("ssh-keygen")
    if exe is None:
        raise SignatureError("ssh-keygen (OpenSSH) is not installed: it signs and verifies the evidence")
    return subprocess.run([exe, *args], input=stdin, capture_output=True, timeout=60, check=False)


def file_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every regular file below ``directory`` except the signature files themselves."""
    out = {}
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory).as_posix()
        if rel in (SIGNED, SIGNATURE) or p.is_dir():
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "not-a-regular-file"
    return out


def _run_id(directory: Path) -> str:
    try:
        doc = json.loads((directory / "run.json").read_text(encoding="utf-8"))
        return str(doc.get("run_id") or directory.name)
    except (OSError, ValueError):
        return directory.name


def sign(directory: Path, key: Path) -> Path:
    """Sign ``directory`` with the OpenSSH private key ``key``; returns the signature file."""
    directory, key = Path(directory), Path(key)
    if not (directory / "run.json").is_file():
        raise SignatureError(f"{directory}: no run.json: not an evidence directory")
    pub = _ssh_keygen("-y", "-f", str(key))  # also proves the key is readable without a passphrase
    if pub.returncode != 0:
        raise SignatureError(f"{key}: cannot read the private key: {pub.stderr.decode(errors='replace').strip()}")
    (directory / SIGNER_PUB).write_bytes(pub.stdout)
    payload: dict[str, Any] = {"format": FORMAT, "run_id": _run_id(directory), "harness_version": __version__,
                               "files": file_hashes(directory)}
    signed = directory / SIGNED
    signed.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (directory / SIGNATURE).unlink(missing_ok=True)
    res = _ssh_keygen("-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE, str(signed))
    if res.returncode != 0 or not (directory / SIGNATURE).exists():
        raise SignatureError(f"ssh-keygen -Y sign failed: {res.stderr.decode(errors='replace').strip()}")
    return directory / SIGNATURE


def verify(directory: Path, public_key: Path | None = None) -> Verification:
    """Check the signature (against ``public_key``, else the directory's own signer.pub) and every file."""
    directory = Path(directory)
    signed, sig = directory / SIGNED, directory / SIGNATURE
    if not signed.is_file() or not sig.is_file():
        return Verification(False, (f"{directory}: not signed ({SIGNED} or {SIGNATURE} missing)",), "", "", 0, "")
    pub_path = Path(public_key) if public_key is not None else directory / SIGNER_PUB
    problems: list[str] = []
    try:
        pub = pub_path.read_text(encoding="utf-8").split()
    except OSError as exc:
        raise SignatureError(f"cannot read the public key {pub_path}: {exc}") from exc
    if len(pub) < 2:
        raise SignatureError(f"{pub_path}: not an OpenSSH public key")
    with tempfile.TemporaryDirectory(prefix="recon-harness-verify-") as tmp:
        allowed = Path(tmp) / "allowed_signers"
        allowed.write_text(f'{IDENTITY} namespaces="{NAMESPACE}" {pub[0]} {pub[1]}\n', encoding="utf-8")
        res = _ssh_keygen("-Y", "verify", "-f", str(allowed), "-I", IDENTITY, "-n", NAMESPACE, "-s", str(sig),
                          stdin=signed.read_bytes())
    if res.returncode != 0:
        why = (res.stderr or res.stdout).decode(errors="replace").strip().splitlines()
        problems.append(f"signature does not verify with {pub_path}: {why[-1] if why else 'rejected'}")
    try:
        payload = json.loads(signed.read_text(encoding="utf-8"))
        recorded: dict[str, str] = dict(payload["files"])
    except (ValueError, KeyError, TypeError) as exc:
        return Verification(False, (*problems, f"{SIGNED} is unreadable: {exc}"), "", "", 0, str(pub_path))
    now = file_hashes(directory)
    for name in sorted(set(recorded) | set(now)):
        if name not in now:
            problems.append(f"{name}: removed")
        elif name not in recorded:
            problems.append(f"{name}: added after signing")
        elif now[name] != recorded[name]:
            problems.append(f"{name}: changed after signing (SHA-256 differs)")
    run_id = str(payload.get("run_id", ""))
    if (directory / "run.json").is_file() and "run.json" in recorded and _run_id(directory) != run_id:
        problems.append(f"run id {_run_id(directory)!r} in run.json is not the signed {run_id!r}")
    return Verification(not problems, tuple(problems), run_id, str(payload.get("harness_version", "")),
                        len(recorded), str(pub_path))

"""The first steps of a newcomer: packaging metadata and bootstrap.sh as the README shows them."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_license_is_an_spdx_string() -> None:
    """setuptools >= 77 warns (and will refuse) the TOML-table form of project.license."""
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in meta["project"].get("classifiers", []))
    setuptools_req = next(r for r in meta["build-system"]["requires"] if r.startswith("setuptools"))
    assert setuptools_req == "setuptools>=77"  # the first release that reads the SPDX string form


def test_bootstrap_never_calls_sudo_and_the_readme_does_not_need_it() -> None:
    """Minimal images and containers run as root without sudo installed."""
    code = [line for line in (REPO / "bootstrap.sh").read_text().splitlines()
            if not line.lstrip().startswith(("#", "echo "))]  # comments and messages may name sudo
    assert not [line for line in code if re.search(r"(^|[;&|(]\s*)sudo\s", line.strip())]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "as root (with `sudo` in front if you are not root" in readme
    assert not re.search(r"^sudo \./bootstrap\.sh", readme, re.M)


def test_bootstrap_runs_without_sudo_on_path(tmp_path: Path) -> None:
    """With no sudo on PATH, bootstrap.sh still starts (here: its usage line, exit 2)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "readlink", "id"):
        path = next(Path(d) / tool for d in ("/usr/bin", "/bin") if (Path(d) / tool).exists())
        (bindir / tool).symlink_to(path)
    proc = subprocess.run([str(bindir / "bash"), str(REPO / "bootstrap.sh")], capture_output=True, text=True,
                          env={**os.environ, "PATH": str(bindir)}, timeout=30)
    assert proc.returncode == 2 and "usage: ./bootstrap.sh run|test|setup (as root)" in proc.stderr, proc.stderr
    assert "sudo: command not found" not in proc.stderr

"""`sigma check` (sigma-cli, in its own venv because it pins pySigma 1.x) passes on detections/sigma."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SIGMA = REPO / ".venv-sigma-cli" / "bin" / "sigma"


def _offline_skipped() -> set[str]:
    spec = importlib.util.spec_from_file_location("rules_suite", Path(__file__).with_name("test_sigma_rules.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return set(mod.OFFLINE_SKIPPED_VALIDATORS)


@pytest.mark.skipif(not SIGMA.exists(), reason="run `./bootstrap.sh setup` (as root) to create .venv-sigma-cli")
def test_sigma_check_finds_no_error_and_no_issue() -> None:
    excluded = [a for v in sorted(_offline_skipped()) for a in ("-x", v)]
    proc = subprocess.run([str(SIGMA), "check", "--fail-on-error", "--fail-on-issues", *excluded,
                           str(REPO / "detections" / "sigma")], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Found 0 errors, 0 condition errors and 0 issues" in out, out

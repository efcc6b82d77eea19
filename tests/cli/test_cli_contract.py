"""The shared CLI contract (../shared/tools/cli-contract): the output shapes the issues specify."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO.parent / "shared" / "tools" / "cli-contract"


@pytest.mark.skipif(not TOOL.exists(), reason=f"{TOOL} is not beside the repository")
def test_cli_output_shapes_hold():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", str(TOOL)], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout and proc.stdout.count("ok ") >= 7

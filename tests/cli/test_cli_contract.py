"""The shared CLI contract (../shared/tools/cli-contract): the output shapes the issues specify."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The project's shared contract checker: CI has it in ../shared; elsewhere point RECON_HARNESS_CLI_CONTRACT at it.
TOOL = Path(os.environ.get("RECON_HARNESS_CLI_CONTRACT") or REPO.parent / "shared" / "tools" / "cli-contract")


@pytest.mark.skipif(
    not TOOL.exists(),
    reason=f"the CLI contract checker is not at {TOOL}: it ships with the project's shared material (CI has it at "
    "../shared/tools/cli-contract); set RECON_HARNESS_CLI_CONTRACT to its path to run this test",
)
def test_cli_output_shapes_hold() -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", str(TOOL)], cwd=REPO, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout and proc.stdout.count("ok ") >= 7

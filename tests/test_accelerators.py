"""The optional C accelerators are optional only where they cannot be built.

setup.py marks them optional (a host without a compiler still installs the harness, slower),
so a broken build would only show as skipped differential tests and a slow benchmark. Where
gcc and the Python headers are present, as bootstrap.sh installs them, they must be loaded.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

from harness.telemetry.parsers import auditd
from harness.views import sigma


def test_accelerators_loaded_where_they_can_be_built() -> None:
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if shutil.which("gcc") is None or not headers.is_file():
        pytest.skip("no compiler or Python headers here: the pure-Python paths are used")
    assert auditd.ACCELERATED, "harness.telemetry.parsers._auditd_fast was not built (see pip install -e . output)"
    assert sigma.ACCELERATED, "harness.views._sigma_fast was not built (see pip install -e . output)"

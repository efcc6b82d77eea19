"""The C extensions keep no mutable state in C globals.

What changes after import (the auditd extension's configure() tables, its string cache and its
record templates) lives in module state (``AfState``, PyModule_GetState). The only writable
globals left are constants made once at import (interned key strings, character classes) and the
statically initialised type objects and method tables. This reads the built extensions' data
symbols with ``nm`` and the sources' assignments, so a new C-level cache or counter fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: statically initialised and never written: type objects, method/member tables, module defs
STATIC_TABLES = {"EvType", "GrouperType", "StreamType", "FastType", "gr_members", "stream_members", "methods",
                 "fast_methods", "module", "kwlist", "HEX_KEYS", "FIELD_NAMES"}
#: made once at import by the *_init functions / PyInit_*: interned strings and lookup tables
IMPORT_CONSTANTS: dict[str, set[str] | re.Pattern[str]] = {
    "_auditd_fast": {"CLS", "hex_key_objs", "type_key", "syscall_key", "SYSCALL_key", "arch_key", "saddr_key",
                     "SADDR_key", "proctitle_key", "x86_64_str", "nul_str", "space_str", "eoe_str", "execve_str",
                     "trunc_key", "rstrip_chars"},
    # _sigma_fast.h: k_* record keys, s_* values, e_* event keys, m_* method names, a_* attributes
    "_sigma_fast": re.compile(r"(?:[ksem]|a)_\w+|argkeys|records_key"),
}
EXTENSIONS = {"_auditd_fast": ROOT / "harness" / "telemetry" / "parsers", "_sigma_fast": ROOT / "harness" / "views"}


def _data_symbols(so: Path) -> set[str]:
    out = subprocess.run(["nm", str(so)], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "bBdD":
            name = parts[2].split(".")[0]  # kwlist.0: a function's static
            if not name.startswith("_") and name != "completed":  # the toolchain's own
                names.add(name)
    return names


def _writes_outside_init(sources: list[Path], names: set[str]) -> list[str]:
    """Statements that assign one of names (plain, indexed, Py_SETREF/Py_CLEAR) outside an
    *_init / PyInit_* function; file-scope initialisers are declarations, not writes."""
    offenders = []
    for path in sources:
        text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), path.read_text(encoding="utf-8"),
                      flags=re.S)
        function = None
        for no, line in enumerate(text.splitlines(), 1):
            if m := re.match(r"([A-Za-z_]\w*)\(", line):
                function = m.group(1)
            if function is None or function.endswith("_init") or function.startswith("PyInit_"):
                continue
            for name in names:
                n = re.escape(name)
                if re.search(rf"(?:^\s*|[;{{]\s*){n}\s*(?:\[[^\]]*\])?\s*=(?!=)|Py_X?(?:SETREF|CLEAR)\(\s*{n}\b",
                             line):
                    offenders.append(f"{path.name}:{no}: {name} written in {function}(): {line.strip()}")
    return offenders


@pytest.mark.parametrize("ext", sorted(EXTENSIONS))
def test_no_mutable_c_globals(ext: str) -> None:
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    built = sorted(EXTENSIONS[ext].glob(f"{ext}.*.so"))
    if not built:
        pytest.skip(f"{ext} is not built (setup.py needs gcc)")
    symbols = _data_symbols(built[0])
    allowed = IMPORT_CONSTANTS[ext]
    constants = {s for s in symbols if (allowed.fullmatch(s) if isinstance(allowed, re.Pattern) else s in allowed)}
    unexpected = sorted(symbols - STATIC_TABLES - constants)
    assert unexpected == [], f"{ext}: writable C globals that are not import-time constants: {unexpected}"
    prefix = ext.removesuffix("_fast") + "_"
    sources = sorted(EXTENSIONS[ext].glob(f"{prefix}*.c"))
    assert sources
    assert _writes_outside_init(sources, constants | (symbols & STATIC_TABLES)) == []


def test_the_checker_sees_a_write_outside_init(tmp_path: Path) -> None:
    src = tmp_path / "_x.c"
    src.write_text("static PyObject *cache_key;\nint\nx_init(void)\n{\n    cache_key = NULL;\n}\n"
                   "static int\nparse(void)\n{\n    Py_XSETREF(cache_key, o);\n    hits[3] = 1;\n}\n")
    assert _writes_outside_init([src], {"cache_key", "hits"}) == [
        "_x.c:10: cache_key written in parse(): Py_XSETREF(cache_key, o);",
        "_x.c:11: hits written in parse(): hits[3] = 1;",
    ]


def test_configure_hands_the_tables_to_the_module() -> None:
    """auditd.py hands its syscall table to the module's state at import (configure()); the C path
    reads the SYSCALL name from it, and configure() refuses a decoder it could not call."""
    from harness.telemetry.parsers import auditd

    fast = pytest.importorskip("harness.telemetry.parsers._auditd_fast", reason="not built")
    assert auditd.ACCELERATED
    line = "type=SYSCALL msg=audit(1.0:2): arch=c000003e syscall=42 exe=\"/bin/x\""
    parsed = fast.parse_line(line)
    assert parsed is not None and parsed[3]["SYSCALL"] == "connect"
    with pytest.raises(TypeError, match="callable"):
        fast.configure({}, None, {})

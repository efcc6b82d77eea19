"""Sysmon for Linux in the offline package cache: which inputs make a build, and where its .debs are.

``packaging/sysmon/build-debs.sh`` builds ``sysinternalsebpf`` and ``sysmonforlinux`` from the
upstream source archives and stores them in ``<cache>/sysmon/<key>/``. The key is a hash of every
input of that build (the archives' pinned SHA-256 and the project's build script, patches and
T4 host), so a changed input means a new build and an unchanged one a no-op, and a lab can find
the packages of the project it runs from without rebuilding anything.

Standard library only: the build script runs ``python3 -m harness.packages.sysmon key`` outside
the venv.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.packages.cache import cache_dir, project_pins

REPO_ROOT = Path(__file__).resolve().parents[2]
#: The upstream archives, as shared/vendor names them (their pins are in pins.sha256).
SOURCES = (
    "SysinternalsEBPF-5adb11c.tar.gz",
    "SysmonForLinux-6a335d5.tar.gz",
    "SysmonCommon-b6010a7.tar.gz",
)
#: The project's files that shape the build, relative to the repository root.
BUILD_FILES = (
    "packaging/sysmon/build-debs.sh",
    "packaging/sysmon/patches/sysinternalsebpf-system-libbpf.patch",
    "packaging/sysmon/patches/sysmonforlinux-offline-build.patch",
    "harness/packages/t4.py",
)
PACKAGE_NAMES = ("sysinternalsebpf", "sysmonforlinux")
BUILD_COMMAND = "packaging/sysmon/build-debs.sh ../shared/vendor"


@dataclass(frozen=True)
class SysmonPackages:
    """The two .debs of one build, in install order."""

    sysinternalsebpf: Path
    sysmonforlinux: Path


def input_key(root: Path = REPO_ROOT) -> str:
    """SHA-256 over the archives' pins and the build files' contents (a missing pin raises)."""
    pins = {p.name: p.sha256 for p in project_pins()}
    digest = hashlib.sha256()
    for name in SOURCES:
        if name not in pins:
            raise KeyError(f"no pin for {name} in harness/packages/pins.sha256")
        digest.update(f"source {name} {pins[name]}\n".encode())
    for rel in BUILD_FILES:
        data = (root / rel).read_bytes()
        digest.update(f"file {rel} {hashlib.sha256(data).hexdigest()}\n".encode())
    return digest.hexdigest()


def build_dir(cache: Path | None = None, root: Path = REPO_ROOT) -> Path:
    """Where the build of the current inputs is (or would be) stored."""
    return (cache if cache is not None else cache_dir()) / "sysmon" / input_key(root)[:16]


def find_packages(cache: Path | None = None, root: Path = REPO_ROOT) -> SysmonPackages | None:
    """The cached .debs of the current inputs, or None when that build is not in the cache.

    A build counts only once it is complete: the script writes ``BUILDINFO`` last.
    """
    directory = build_dir(cache, root)
    if not (directory / "BUILDINFO").is_file():
        return None
    found: dict[str, Path] = {}
    for name in PACKAGE_NAMES:
        debs = sorted(directory.glob(f"{name}_*_amd64.deb"))
        if len(debs) != 1:
            return None
        found[name] = debs[0]
    return SysmonPackages(found["sysinternalsebpf"], found["sysmonforlinux"])


def missing_reason(cache: Path | None = None) -> str:
    """Why Sysmon cannot be installed from the cache, naming the path and the command that fills it."""
    directory = build_dir(cache)
    return (
        f"Sysmon for Linux packages are not in the offline package cache ({directory}); "
        f"build them with `{BUILD_COMMAND}` (several minutes; `harness lab up` never builds them)"
    )


def main(argv: list[str]) -> int:
    if argv == ["key"]:
        print(input_key())
        return 0
    if argv == ["dir"]:
        print(build_dir())
        return 0
    print("usage: python3 -m harness.packages.sysmon key|dir", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

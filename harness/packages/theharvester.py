"""theHarvester 4.6.0, the release atomic T1590.005-4 runs, obtained and installed on the controller.

Why exactly 4.6.0 (checked against the upstream tags): the detection page's command uses
``-b dnsdumpster,bing``. 4.6.0 (tag d36e326, 2024-03-17) is the last release that has both the
``dnsdumpster`` scraper (``discovery/dnsdumpster.py``: GET for the csrftoken cookie, then POST) and
``bing`` (``discovery/bingsearch.py``); 4.7.0 removed the scraper, 4.8.0 brought an API-key client
(``search_dnsdumpster.py``) and 4.9.0 removed bing. 4.6.0 needs Python >= 3.9.

Where the release comes from, in order:

1. the offline package cache (:func:`harness.packages.cache_dir`), when the pinned file is there;
2. the upstream tag, downloaded HERE (the controller: the side with internet; a lab host has none)
   into the cache, and accepted only when it matches the same pin;
3. otherwise :class:`PackageUnavailable`, naming the cache path and the upstream tag.

Its dependencies come from the cache's ``wheels/`` with ``--no-index`` when there are any (an
air-gapped lab needs nothing else), else from PyPI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from harness.packages.cache import PackageUnavailable, PinError, cache_dir, check_pinned, find_pinned

VERSION = "4.6.0"
TAG = "4.6.0"
UPSTREAM = "https://github.com/laramies/theHarvester"
ARCHIVE = f"theHarvester-{VERSION}.tar.gz"
WHEELS = "wheels"
#: Written last by :func:`install`: a venv without it is an interrupted install.
MARKER = ".recon-harness-installed"
#: Beside certifi's bundle while the lab CA is appended to it (restored by :func:`untrust_ca`).
CERTIFI_ORIGINAL = "cacert.pem.recon-harness-orig"

Fetch = Callable[[str, Path], None]


def archive_url(repo: str = UPSTREAM, tag: str = TAG) -> str:
    """GitHub's source archive of ``tag`` (what a `git archive` of the tag gives)."""
    return f"{repo.rstrip('/')}/archive/refs/tags/{tag}.tar.gz"


def download(url: str, dest: Path, timeout: float = 60.0) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "recon-atomics-harness package cache"})
    with urllib.request.urlopen(request, timeout=timeout) as resp, dest.open("wb") as out:
        shutil.copyfileobj(resp, out)


def unavailable_reason(cache: Path, repo: str = UPSTREAM, tag: str = TAG, detail: str = "") -> str:
    return (f"theHarvester {VERSION} is not in the offline package cache ({cache / ARCHIVE}) and its upstream "
            f"tag {tag} could not be downloaded ({archive_url(repo, tag)}){': ' + detail if detail else ''}")


def obtain(cache: Path | None = None, *, repo: str = UPSTREAM, tag: str = TAG, fetch: Fetch = download) -> Path:
    """The pinned release archive in the cache, downloading the upstream tag into it when absent."""
    directory = cache if cache is not None else cache_dir()
    found = find_pinned(ARCHIVE, directory)  # a file that matches no pin is refused, not replaced
    if found is not None:
        return found
    url = archive_url(repo, tag)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PackageUnavailable(unavailable_reason(directory, repo, tag, f"cannot create the cache: {exc}")) from None
    partial = directory / f".{ARCHIVE}.part-{os.getpid()}"
    try:
        fetch(url, partial)
        check_pinned(partial, ARCHIVE, directory)
        os.replace(partial, directory / ARCHIVE)
    except OSError as exc:  # URLError, timeouts and refused connections are OSErrors
        raise PackageUnavailable(unavailable_reason(directory, repo, tag, str(exc))) from None
    finally:
        partial.unlink(missing_ok=True)
    return directory / ARCHIVE


def wheel_dir(cache: Path | None = None) -> Path | None:
    """The cache's wheels directory when it holds any wheel (then pip installs with --no-index)."""
    d = (cache if cache is not None else cache_dir()) / WHEELS
    return d if d.is_dir() and any(d.glob("*.whl")) else None


def installed_version(venv: Path) -> str | None:
    try:
        return (venv / MARKER).read_text().split()[1]
    except (OSError, IndexError):
        return None


def install(venv: Path, archive: Path, cache: Path | None = None, python: str | None = None) -> None:
    """A fresh venv at ``venv`` with theHarvester from ``archive``; the marker is written last."""
    wheels = wheel_dir(cache)
    if venv.exists():
        shutil.rmtree(venv)
    interpreter = python or shutil.which("python3") or sys.executable
    _pip_step([interpreter, "-m", "venv", str(venv)], "python3 -m venv", timeout=120)
    source = ["--no-index", "--find-links", str(wheels)] if wheels else []
    where = f"the wheels in {wheels}" if wheels else "PyPI"
    _pip_step([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *source, str(archive)],
              f"pip could not install theHarvester {VERSION}'s pinned dependencies from {where}", timeout=900)
    (venv / MARKER).write_text(f"theHarvester {VERSION} {archive.name}\n")


def _pip_step(args: list[str], what: str, timeout: float) -> None:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        raise PackageUnavailable(f"{what}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:]
        raise PackageUnavailable(f"{what} (exit {proc.returncode}): {' '.join(tail)}")


def ensure(venv: Path, cache: Path | None = None, *, repo: str = UPSTREAM, fetch: Fetch = download) -> Path:
    """theHarvester VERSION installed in ``venv`` (kept when already there)."""
    if installed_version(venv) == VERSION:
        return venv
    install(venv, obtain(cache, repo=repo, fetch=fetch), cache)
    return venv


# The lab CA, trusted in theHarvester's own venv only -------------------------------------------
# 4.6.0's bing source (lib/core.py AsyncFetcher) verifies with ssl.create_default_context(
# cafile=certifi.where()): certifi's bundle, not SSL_CERT_FILE. Its dnsdumpster source uses
# aiohttp's default context, which does honour SSL_CERT_FILE (set by the lab's sessions).

def certifi_bundle(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3*/site-packages/certifi/cacert.pem"))
    return found[0] if found else None


_CA_MARK = b"# recon-harness lab CA"


def _lab_cas(bundle: bytes, original: bytes) -> dict[str, bytes]:
    """The lab CAs appended to certifi's bundle, by lab name ("" for the unnamed mark of old)."""
    tail = bundle[len(original.rstrip(b"\n")):] if bundle.startswith(original.rstrip(b"\n")) else b""
    cas: dict[str, bytes] = {}
    for block in tail.split(b"\n" + _CA_MARK)[1:]:
        head, _, pem = block.partition(b"\n")
        cas[head.removeprefix(b":").strip().decode(errors="replace")] = pem.strip(b"\n") + b"\n"
    return cas


def _write_bundle(bundle: Path, original: Path, cas: dict[str, bytes]) -> None:
    text = original.read_bytes().rstrip(b"\n") + b"\n"
    for label, pem in sorted(cas.items()):
        text += b"\n" + _CA_MARK + b": " + label.encode() + b"\n" + pem
    bundle.write_bytes(text)


def trust_ca(venv: Path, ca_pem: Path, label: str = "lab") -> Path | None:
    """Add lab ``label``'s CA to the venv's certifi bundle (the original kept beside it), beside the
    CAs of other lab instances sharing the venv; None without a bundle."""
    bundle = certifi_bundle(venv)
    if bundle is None:
        return None
    original = bundle.with_name(CERTIFI_ORIGINAL)
    if not original.exists():
        shutil.copy2(bundle, original)
    cas = _lab_cas(bundle.read_bytes(), original.read_bytes())
    cas[label] = ca_pem.read_bytes().strip(b"\n") + b"\n"
    _write_bundle(bundle, original, cas)
    return bundle


def untrust_ca(venv: Path, label: str | None = None) -> bool:
    """Take lab ``label``'s CA out (every lab CA when None); certifi's own bundle is restored once no
    lab CA is left. False when there was nothing to take out."""
    bundle = certifi_bundle(venv)
    original = bundle.with_name(CERTIFI_ORIGINAL) if bundle is not None else None
    if bundle is None or original is None or not original.exists():
        return False
    cas = _lab_cas(bundle.read_bytes(), original.read_bytes())
    if label is not None and label in cas and len(cas) > 1:
        del cas[label]
        _write_bundle(bundle, original, cas)
        return True
    if label is not None and cas and label not in cas:
        return False  # another lab's CA only: not ours to take out
    os.replace(original, bundle)
    return True


def cached_release(cache: Path | None = None) -> Path:
    """The pinned release already in the cache, never downloaded: what a lab built from this cache
    gets (vagrant/build-box.sh bakes it into the box; CI derives T1590.005-4's verdict from it).

    Raises ``PackageUnavailable`` when it is absent and ``PinError`` when the file matches no pin."""
    directory = cache if cache is not None else cache_dir()
    found = find_pinned(ARCHIVE, directory)
    if found is None:
        raise PackageUnavailable(f"theHarvester {VERSION} is not in the offline package cache ({directory / ARCHIVE})")
    return found


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.packages.theharvester fetch [--wheels]``: fill a cache on a connected machine;
    ``cached``: print the pinned release's path in the cache (exit 1 with the reason when there is none)."""
    p = argparse.ArgumentParser(prog="python -m harness.packages.theharvester", description=main.__doc__)
    p.add_argument("action", choices=["fetch", "cached"])
    p.add_argument("--cache", type=Path, help="cache directory (default: RECON_HARNESS_PACKAGE_CACHE or "
                   "/var/cache/recon-harness/packages)")
    p.add_argument("--wheels", action="store_true",
                   help="also build the dependency wheels into <cache>/wheels (same Python minor as the lab)")
    args = p.parse_args(argv)
    cache = args.cache or cache_dir()
    try:
        if args.action == "cached":
            print(cached_release(cache))
            return 0
        archive = obtain(cache)
        print(archive)
        if args.wheels:
            _pip_step([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                       "--wheel-dir", str(cache / WHEELS), str(archive)], "pip wheel", timeout=1800)
            print(cache / WHEELS)
    except (PackageUnavailable, PinError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

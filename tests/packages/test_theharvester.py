"""theHarvester's source selection: cache first, then the upstream tag fetched by the controller, else
a reason naming both. The "upstream" here is a fake remote on loopback: tests never reach the internet."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.packages import PackageUnavailable, PinError, cache, theharvester


def _release(content: bytes = b"VERSION = '4.6.0'\n", mtime: int = 0) -> tuple[bytes, bytes]:
    """(tar stream, gzip of it) of a tiny stand-in archive (only its bytes matter here)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("theHarvester-4.6.0/theHarvester/lib/version.py")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    raw = buf.getvalue()
    return raw, gzip.compress(raw, mtime=mtime)


class _Remote:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        remote = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                remote.requests.append(self.path)
                body = remote.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/laramies/theHarvester"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def remote() -> Iterator[_Remote]:
    r = _Remote({})
    yield r
    r.server.shutdown()
    r.server.server_close()


def _pin(directory: Path, name: str, data: bytes) -> None:
    with (directory / cache.LOCAL_PINS_NAME).open("a") as fh:
        fh.write(f"{hashlib.sha256(data).hexdigest()}  {name}\n")


def test_upstream_url_names_the_pinned_tag() -> None:
    assert theharvester.VERSION == theharvester.TAG == "4.6.0"
    assert theharvester.archive_url() == "https://github.com/laramies/theHarvester/archive/refs/tags/4.6.0.tar.gz"
    assert theharvester.ARCHIVE in {p.name for p in cache.load_pins(Path("/nonexistent"))}


def test_cache_hit_never_touches_the_remote(tmp_path: Path, remote: _Remote) -> None:
    _, gz = _release()
    (tmp_path / theharvester.ARCHIVE).write_bytes(gz)
    _pin(tmp_path, theharvester.ARCHIVE, gz)
    assert theharvester.obtain(tmp_path, repo=remote.url) == tmp_path / theharvester.ARCHIVE
    assert remote.requests == []


def test_missing_archive_is_fetched_from_the_tag_and_pinned(tmp_path: Path, remote: _Remote) -> None:
    raw, gz = _release()
    remote.files["/laramies/theHarvester/archive/refs/tags/4.6.0.tar.gz"] = _release(mtime=12345)[1]
    # Pinned by its tar content only: another gzip of the same tar is the same release.
    _pin(tmp_path, "theHarvester-4.6.0.tar", raw)
    got = theharvester.obtain(tmp_path, repo=remote.url)
    assert remote.requests == ["/laramies/theHarvester/archive/refs/tags/4.6.0.tar.gz"]
    assert got == tmp_path / theharvester.ARCHIVE and gzip.decompress(got.read_bytes()) == raw
    assert gz != got.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [cache.LOCAL_PINS_NAME, theharvester.ARCHIVE]


def test_download_that_matches_no_pin_is_refused_and_not_kept(tmp_path: Path, remote: _Remote) -> None:
    remote.files["/laramies/theHarvester/archive/refs/tags/4.6.0.tar.gz"] = _release(b"tampered")[1]
    with pytest.raises(PinError, match="matches no pin"):
        theharvester.obtain(tmp_path, repo=remote.url)
    assert list(tmp_path.iterdir()) == []


def test_no_cache_and_no_upstream_names_both(tmp_path: Path, remote: _Remote) -> None:
    with pytest.raises(PackageUnavailable) as info:
        theharvester.obtain(tmp_path / "empty", repo=remote.url)  # the remote answers 404
    msg = str(info.value)
    assert str(tmp_path / "empty" / theharvester.ARCHIVE) in msg
    assert "upstream tag 4.6.0" in msg and f"{remote.url}/archive/refs/tags/4.6.0.tar.gz" in msg
    assert not any((tmp_path / "empty").iterdir())


def test_tampered_cache_file_is_refused_not_replaced(tmp_path: Path, remote: _Remote) -> None:
    (tmp_path / theharvester.ARCHIVE).write_bytes(b"not the release")
    with pytest.raises(PinError, match="matches no pin"):
        theharvester.obtain(tmp_path, repo=remote.url)
    assert remote.requests == []


def test_cached_release_never_downloads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(PackageUnavailable, match="not in the offline package cache") as info:
        theharvester.cached_release(tmp_path)
    assert "download" not in str(info.value)  # obtain()'s message would name the failed download
    assert theharvester.main(["cached", "--cache", str(tmp_path)]) == 1
    assert str(tmp_path / theharvester.ARCHIVE) in capsys.readouterr().err
    (tmp_path / theharvester.ARCHIVE).write_bytes(b"not the release")
    with pytest.raises(PinError, match="matches no pin"):
        theharvester.cached_release(tmp_path)
    assert theharvester.main(["cached", "--cache", str(tmp_path)]) == 1
    assert "matches no pin" in capsys.readouterr().err
    raw, gz = _release()
    _pin(tmp_path, "theHarvester-4.6.0.tar", raw)
    (tmp_path / theharvester.ARCHIVE).write_bytes(gz)
    assert theharvester.cached_release(tmp_path) == tmp_path / theharvester.ARCHIVE
    assert theharvester.main(["cached", "--cache", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / theharvester.ARCHIVE)
    assert not (tmp_path / theharvester.WHEELS).exists()


def test_wheels_select_no_index(tmp_path: Path) -> None:
    assert theharvester.wheel_dir(tmp_path) is None
    (tmp_path / "wheels").mkdir()
    assert theharvester.wheel_dir(tmp_path) is None
    (tmp_path / "wheels" / "aiohttp-3.9.3-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"")
    assert theharvester.wheel_dir(tmp_path) == tmp_path / "wheels"


def test_ca_trust_is_appended_and_restored(tmp_path: Path) -> None:
    bundle = tmp_path / "lib" / "python3.11" / "site-packages" / "certifi" / "cacert.pem"
    bundle.parent.mkdir(parents=True)
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\npublic\n-----END CERTIFICATE-----\n")
    original = bundle.read_bytes()
    ca = tmp_path / "ca.crt"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nlab\n-----END CERTIFICATE-----\n")
    assert theharvester.trust_ca(tmp_path, ca) == bundle
    assert theharvester.trust_ca(tmp_path, ca) == bundle  # a second up replaces, never accumulates
    assert bundle.read_bytes().startswith(original) and bundle.read_bytes().count(b"\nlab\n") == 1
    assert theharvester.untrust_ca(tmp_path) and bundle.read_bytes() == original
    assert not theharvester.untrust_ca(tmp_path)
    assert theharvester.trust_ca(tmp_path / "no-venv", ca) is None


def test_project_pin_matches_the_atomics_inputs() -> None:
    """The atomic's target-side check uses the tar-stream pin: it must be the project's."""
    import yaml

    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "atomics/T1590.005/T1590.005.yaml").read_text())
    test = next(t for t in doc["atomic_tests"] if t["name"].startswith("theHarvester"))
    args = {k: v["default"] for k, v in test["input_arguments"].items()}
    pins = {p.name: p.sha256 for p in cache.load_pins(Path("/nonexistent"))}
    assert args["harvester_version"] == theharvester.VERSION
    assert args["harvester_tar_sha256"] == pins["theHarvester-4.6.0.tar"]
    assert args["harvester_repo"] == theharvester.UPSTREAM


def test_two_lab_instances_share_the_bundle_and_the_last_one_restores_it(tmp_path: Path) -> None:
    bundle = tmp_path / "lib" / "python3.11" / "site-packages" / "certifi" / "cacert.pem"
    bundle.parent.mkdir(parents=True)
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\npublic\n-----END CERTIFICATE-----\n")
    original = bundle.read_bytes()
    cas = {}
    for name in ("rah", "b"):
        cas[name] = tmp_path / f"{name}.crt"
        cas[name].write_bytes(f"-----BEGIN CERTIFICATE-----\n{name}-ca\n-----END CERTIFICATE-----\n".encode())
        theharvester.trust_ca(tmp_path, cas[name], name)
    both = bundle.read_bytes()
    assert both.startswith(original) and b"\nrah-ca\n" in both and b"\nb-ca\n" in both
    assert theharvester.untrust_ca(tmp_path, "rah")  # the first lab down takes only its own CA out
    assert b"\nrah-ca\n" not in bundle.read_bytes() and b"\nb-ca\n" in bundle.read_bytes()
    assert not theharvester.untrust_ca(tmp_path, "rah")
    assert theharvester.untrust_ca(tmp_path, "b") and bundle.read_bytes() == original

"""The lab CA and its leaf certificates, checked with cryptography and the ssl module itself."""

from __future__ import annotations

import contextlib
import datetime as dt
import ssl
import stat
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from harness.errors import LabError
from harness.lab.config import load_lab_config
from harness.lab.pki import LeafSpec, create_lab_pki, load_lab_pki, service_leaf_specs, write_ca_bundle


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return create_lab_pki(tmp_path_factory.mktemp("pki") / "d", service_leaf_specs(load_lab_config().services))


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_ca_is_a_short_lived_ec_ca(pki) -> None:  # type: ignore[no-untyped-def]
    ca = _cert(pki.ca_cert)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True and bc.value.path_length == 0
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert ca.subject == ca.issuer
    assert ca.not_valid_after_utc - ca.not_valid_before_utc <= dt.timedelta(days=7, minutes=10)
    assert ca.not_valid_before_utc <= dt.datetime.now(dt.UTC) < ca.not_valid_after_utc
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert pki.not_after == ca.not_valid_after_utc


def test_leaves_signed_by_ca_with_sans_and_server_auth(pki) -> None:  # type: ignore[no-untyped-def]
    ca = _cert(pki.ca_cert)
    cfg = load_lab_config()
    assert set(pki.leaves) == {s.name for s in cfg.services}
    for svc in cfg.services:
        leaf = _cert(pki.leaf(svc.name).cert)
        leaf.verify_directly_issued_by(ca)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == list(svc.hosts)
        assert san.get_values_for_type(x509.IPAddress) == [svc.ip]
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
        assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_private_keys_are_0600(pki) -> None:  # type: ignore[no-untyped-def]
    keys = [pki.ca_key, *(leaf.key for leaf in pki.leaves.values())]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE(pki.directory.stat().st_mode) == 0o700


def test_python_ssl_handshake_verifies_against_lab_ca_only(pki) -> None:  # type: ignore[no-untyped-def]
    """A real TLS handshake over memory BIOs: the lab CA verifies the leaf, the system store does not."""
    leaf = pki.leaf("bgp-he")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(leaf.cert, leaf.key)

    def handshake(client_ctx: ssl.SSLContext, name: str) -> None:
        c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname=name)
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        for _ in range(10):
            for obj in (client, server):
                with contextlib.suppress(ssl.SSLWantReadError):
                    obj.do_handshake()
            s_in.write(c_out.read())
            c_in.write(s_out.read())
        client.do_handshake()

    handshake(ssl.create_default_context(cafile=str(pki.ca_cert)), "bgp.he.net")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ssl.create_default_context(cafile=str(pki.ca_cert)), "www.bing.com")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(ssl.create_default_context(), "bgp.he.net")


def test_ca_bundle_and_reload(pki, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bundle = write_ca_bundle(tmp_path / "bundle.pem", pki.ca_cert)
    assert [c.subject for c in x509.load_pem_x509_certificates(bundle.read_bytes())] == [_cert(pki.ca_cert).subject]
    (tmp_path / "junk.pem").write_text("not a cert")
    with pytest.raises(LabError, match=r"junk\.pem"):
        write_ca_bundle(tmp_path / "b2.pem", tmp_path / "junk.pem")
    again = load_lab_pki(pki.directory, pki.leaves)
    assert again.leaf("arin").dns_names == pki.leaf("arin").dns_names
    with pytest.raises(LabError, match=r"nope\.crt"):
        load_lab_pki(pki.directory, ["nope"])


def test_each_run_gets_a_new_ca(tmp_path: Path) -> None:
    a = create_lab_pki(tmp_path / "a", [LeafSpec("x", ["x.test"])])
    b = create_lab_pki(tmp_path / "b", [LeafSpec("x", ["x.test"])])
    assert _cert(a.ca_cert).subject != _cert(b.ca_cert).subject
    with pytest.raises(ValueError):
        _cert(b.leaf("x").cert).verify_directly_issued_by(_cert(a.ca_cert))


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([LeafSpec("a", ["a.test"]), LeafSpec("a", ["b.test"])], "duplicate"),
        ([LeafSpec("../x", ["a.test"])], "invalid certificate file name"),
        ([LeafSpec("ca", ["a.test"])], "invalid certificate file name"),
        ([LeafSpec("a", [])], "at least one"),
        ([LeafSpec("a", ["a.test"], ["not-an-ip"])], "not-an-ip"),
    ],
)
def test_bad_specs_are_refused(tmp_path: Path, specs: list[LeafSpec], message: str) -> None:
    with pytest.raises(LabError, match=message):
        create_lab_pki(tmp_path, specs)


def test_concurrent_runs_do_not_share_state(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            create_lab_pki(tmp_path / str(i), [LeafSpec("s", [f"s{i}.test"])])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

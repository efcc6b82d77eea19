"""The lab's throwaway PKI: a short-lived CA trusted only inside the lab, and leaf certificates for
the simulated internet's services.

Every lab run makes a fresh CA (EC P-256, ``CA:TRUE, pathlen:0``, 7 days by default) and one leaf per
service (SAN DNS names plus optional IP addresses, ``serverAuth``). Nothing is ever added to a
system trust store: clients trust the lab CA only through ``--cacert``/``CURL_CA_BUNDLE``/
``REQUESTS_CA_BUNDLE`` pointing at :attr:`LabPKI.ca_cert`. Squid needs :attr:`LabPKI.ca_key` to bump
TLS, which is why the CA key is kept on disk (mode 0600) next to the certificate.

Layout of the directory::

    ca.crt  ca.key                 the lab CA
    <service>.crt  <service>.key   one leaf per service (the chain file holds only the leaf)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.errors import LabError
from harness.lab.config import Service

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
DEFAULT_VALIDITY = dt.timedelta(days=7)
# Certificates start a little in the past so a lab clock a few minutes behind still accepts them.
_BACKDATE = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class LeafCert:
    """One service certificate and its key, as written to disk."""

    name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    cert: Path
    key: Path


@dataclass(frozen=True)
class LabPKI:
    """The lab CA and its leaves. ``leaves`` is keyed by service name."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    not_after: dt.datetime
    leaves: Mapping[str, LeafCert]

    def leaf(self, name: str) -> LeafCert:
        try:
            return self.leaves[name]
        except KeyError:
            raise LabError(f"no lab certificate for service {name!r} in {self.directory}") from None


@dataclass(frozen=True)
class LeafSpec:
    """What to issue: a service name (file stem), its DNS names and optional IP SANs."""

    name: str
    dns_names: Sequence[str]
    ip_addresses: Sequence[str | ipaddress.IPv4Address | ipaddress.IPv6Address] = ()


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start (no window where the key is world-readable), then forced in case
    # the file already existed with wider permissions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    # ECDSA leaves only sign (digitalSignature); the CA also signs certificates and CRLs.
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _check_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or name in {"ca"}:
        raise LabError(f"invalid certificate file name {name!r}")


def create_lab_pki(
    directory: str | Path,
    leaves: Iterable[LeafSpec],
    *,
    validity: dt.timedelta = DEFAULT_VALIDITY,
    ca_common_name: str = "Recon Harness Lab CA",
    now: dt.datetime | None = None,
) -> LabPKI:
    """Create a fresh lab CA and one leaf certificate per spec in ``directory`` (created 0700).

    Existing files of the same names are overwritten: a lab run never reuses an old CA.
    """
    if validity <= dt.timedelta(0):
        raise LabError(f"certificate validity must be positive, got {validity}")
    specs = list(leaves)
    seen: set[str] = set()
    for spec in specs:
        _check_name(spec.name)
        if spec.name in seen:
            raise LabError(f"duplicate certificate name {spec.name!r}")
        if not spec.dns_names and not spec.ip_addresses:
            raise LabError(f"certificate {spec.name!r} needs at least one DNS name or IP address")
        seen.add(spec.name)

    out = Path(directory)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot create PKI directory {out}: {exc}") from exc

    # X.509 times have whole seconds: truncate so not_after here equals the certificate's.
    start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) - _BACKDATE
    end = start + _BACKDATE + validity

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Recon Harness Lab"),
            # A random suffix: two labs' CAs never share a subject, so a stale bundle fails loudly.
            x509.NameAttribute(NameOID.COMMON_NAME, f"{ca_common_name} {os.urandom(4).hex()}"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_cert_path, ca_key_path = out / CA_CERT_FILE, out / CA_KEY_FILE
    try:
        _write_private(ca_key_path, _key_pem(ca_key))
        ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise LabError(f"cannot write the lab CA to {out}: {exc}") from exc

    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    issued: dict[str, LeafCert] = {}
    for spec in specs:
        try:
            ips = tuple(ipaddress.ip_address(str(a)) for a in spec.ip_addresses)
        except ValueError as exc:
            raise LabError(f"certificate {spec.name!r}: {exc}") from exc
        dns = tuple(n.lower().rstrip(".") for n in spec.dns_names)
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        sans += [x509.IPAddress(a) for a in ips]
        key = ec.generate_private_key(ec.SECP256R1())
        subject_cn = dns[0] if dns else str(ips[0])
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(aki, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = out / f"{spec.name}.crt", out / f"{spec.name}.key"
        try:
            _write_private(key_path, _key_pem(key))
            cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        except OSError as exc:
            raise LabError(f"cannot write certificate {spec.name!r} to {out}: {exc}") from exc
        issued[spec.name] = LeafCert(spec.name, dns, ips, cert_path, key_path)

    return LabPKI(directory=out, ca_cert=ca_cert_path, ca_key=ca_key_path, not_after=end, leaves=issued)


def service_leaf_specs(services: Iterable[Service], *, with_ips: bool = True) -> list[LeafSpec]:
    """One leaf spec per lab-config service: its names, and its address when ``with_ips``."""
    return [LeafSpec(s.name, s.hosts, (s.ip,) if with_ips else ()) for s in services]


def write_ca_bundle(path: str | Path, *certs: str | Path) -> Path:
    """Concatenate PEM certificates (normally just the lab CA) into one bundle file for
    ``--cacert`` / ``REQUESTS_CA_BUNDLE``. Every input is checked to really be a PEM certificate."""
    if not certs:
        raise LabError("write_ca_bundle needs at least one certificate")
    parts: list[bytes] = []
    for c in certs:
        try:
            data = Path(c).read_bytes()
        except OSError as exc:
            raise LabError(f"cannot read certificate {c}: {exc}") from exc
        try:
            loaded = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise LabError(f"{c} is not a PEM certificate: {exc}") from exc
        parts += [cert.public_bytes(serialization.Encoding.PEM) for cert in loaded]
    dest = Path(path)
    try:
        dest.write_bytes(b"".join(parts))
    except OSError as exc:
        raise LabError(f"cannot write CA bundle {dest}: {exc}") from exc
    return dest


def load_lab_pki(directory: str | Path, names: Iterable[str]) -> LabPKI:
    """Describe an existing PKI directory (as written by :func:`create_lab_pki`) without touching it.

    Raises :class:`LabError` naming every missing file at once."""
    out = Path(directory)
    names = list(names)
    needed = [out / CA_CERT_FILE, out / CA_KEY_FILE]
    needed += [out / f"{n}.{ext}" for n in names for ext in ("crt", "key")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise LabError(f"lab PKI incomplete, missing: {', '.join(missing)}")
    try:
        ca = x509.load_pem_x509_certificate((out / CA_CERT_FILE).read_bytes())
    except ValueError as exc:
        raise LabError(f"{out / CA_CERT_FILE} is not a PEM certificate: {exc}") from exc
    leaves: dict[str, LeafCert] = {}
    for n in names:
        try:
            cert = x509.load_pem_x509_certificate((out / f"{n}.crt").read_bytes())
        except ValueError as exc:
            raise LabError(f"{out / f'{n}.crt'} is not a PEM certificate: {exc}") from exc
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise LabError(f"{out / f'{n}.crt'} has no subjectAltName") from None
        leaves[n] = LeafCert(
            n,
            tuple(san.get_values_for_type(x509.DNSName)),
            tuple(san.get_values_for_type(x509.IPAddress)),  # type: ignore[arg-type]
            out / f"{n}.crt",
            out / f"{n}.key",
        )
    return LabPKI(out, out / CA_CERT_FILE, out / CA_KEY_FILE, ca.not_valid_after_utc, leaves)

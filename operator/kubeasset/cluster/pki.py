"""The certificates and keys of the local control plane: one throwaway CA per cluster, serving and client
certificates signed by it, and the service-account token signing key, all written as PEM files.

ECDSA P-256 keys throughout: a cluster starts in milliseconds of key generation instead of RSA's seconds,
and every component (etcd, kube-apiserver, kube-controller-manager, Python's ssl) accepts them.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Certificates outlive any test session or demo, and the CA dies with the cluster folder anyway.
VALIDITY = datetime.timedelta(days=365)


@dataclass(frozen=True)
class CertificateFiles:
    """A certificate and its private key as PEM files."""

    cert: Path
    key: Path


class CertificateAuthority:
    """A self-signed CA that issues the cluster's certificates.

    >>> ca = CertificateAuthority.create(Path("/tmp/pki"), "kubeasset-local-ca")  # doctest: +SKIP
    >>> ca.issue("admin", common_name="me", organizations=("system:masters",), client=True)  # doctest: +SKIP
    """

    def __init__(self, folder: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self.folder = folder
        self._key = key
        self._certificate = certificate
        self.cert_file = folder / "ca.crt"

    @classmethod
    def create(cls, folder: Path, common_name: str) -> CertificateAuthority:
        """Generate a CA and write ``ca.crt`` and ``ca.key`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        authority = cls(folder, key, certificate)
        _write_key(folder / "ca.key", key)
        authority.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return authority

    def issue(
        self,
        file_stem: str,
        *,
        common_name: str,
        organizations: tuple[str, ...] = (),
        hosts: tuple[str, ...] = (),
        server: bool = False,
        client: bool = False,
    ) -> CertificateFiles:
        """Issue a leaf certificate; ``hosts`` (IPs or DNS names) become its subject alternative names."""
        key = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
        )
        if hosts:
            builder = builder.add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        files = CertificateFiles(cert=self.folder / f"{file_stem}.crt", key=self.folder / f"{file_stem}.key")
        files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        _write_key(files.key, key)
        return files


def write_signing_key_pair(private_file: Path, public_file: Path) -> None:
    """The key pair the apiserver signs service-account tokens with (and verifies them by)."""
    key = ec.generate_private_key(ec.SECP256R1())
    _write_key(private_file, key)
    public_file.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _san(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )

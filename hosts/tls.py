"""The run's own TLS: a throw-away CA made at start-up and one certificate per server.

    <run>/tls/ca.pem, ca.key          testbed CA (EC P-256, valid for the run's week)
              <server>.pem, .key       signed by it; SANs: services.server_name (www.hatestbed.test),
                                       the VIP, the server's backend IP and its host name

    client ── TLS ──▶ nginx on server1 (10.0.2.12:443, cert server1.pem)
      verifies with ca.pem, e.g. curl --cacert ca.pem --resolve www.hatestbed.test:443:10.0.2.12 ...

Nothing is ever verified with -k: every client (curl, HAProxy's checks, probes) trusts ca.pem.
EC keys make the whole set take milliseconds. Keys are written mode 0600.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hosts.site import Site

VALIDITY = datetime.timedelta(days=7)
# Clocks of all hosts are the same machine's, but allow for a run started just before midnight UTC.
BACKDATE = datetime.timedelta(hours=1)


def create_site_tls(site: Site, hosts: list[str] | None = None) -> None:
    """Create the CA and a key + certificate for every server (or for `hosts`)."""
    site.tls_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hatestbed"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"hatestbed test CA ({site.topology.name})")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(site.tls_dir / "ca.key", ca_key)
    site.tls_ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    for host in site.servers if hosts is None else hosts:
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName(site.services.server_name), x509.DNSName(host),
                 x509.IPAddress(ipaddress.ip_address(site.vip)),
                 x509.IPAddress(ipaddress.ip_address(site.backend_ip(host)))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hatestbed"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, site.services.server_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + VALIDITY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(site.tls_key(host), key)
        site.tls_cert(host).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key readable by its owner only, also when the file already exists."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
    finally:
        os.close(fd)

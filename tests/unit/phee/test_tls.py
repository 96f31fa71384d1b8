"""TLS: verification stays on; a CA file verifies a self-signed hub instead of turning it off.
A verifying context is loaded once per process and shared; a CA file changed on disk is loaded
again."""

from __future__ import annotations

import os
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from g2p_payment_phee.phee.client import _verify

from .support import settings


def _self_signed_ca(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "phee.test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_verification_is_on_by_default():
    context = _verify(settings())
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.get_ca_certs()  # a trust store was loaded


def test_the_default_trust_store_is_loaded_once_per_process():
    assert _verify(settings()) is _verify(settings(tenant_id="another"))


def test_ssl_cert_file_is_honoured(tmp_path, monkeypatch):
    ca = _self_signed_ca(tmp_path / "env-ca.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    context = _verify(settings())
    assert isinstance(context, ssl.SSLContext)
    assert [str(cert["subject"]) for cert in context.get_ca_certs()] == [
        "((('commonName', 'phee.test CA'),),)"
    ]


def test_verification_can_be_turned_off_explicitly():
    assert _verify(settings(verify_tls=False)) is False


def test_a_ca_file_becomes_a_verifying_context(tmp_path):
    ca = _self_signed_ca(tmp_path / "hub-ca.pem")
    context = _verify(settings(ca_bundle=str(ca)))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert any("phee.test CA" in str(cert["subject"]) for cert in context.get_ca_certs())


def test_a_ca_file_is_loaded_once_until_it_changes(tmp_path):
    ca = _self_signed_ca(tmp_path / "hub-ca.pem")
    first = _verify(settings(ca_bundle=str(ca)))
    assert isinstance(first, ssl.SSLContext)
    assert _verify(settings(ca_bundle=str(ca))) is first
    _self_signed_ca(ca)  # a new CA in the same file
    stamp = ca.stat()
    os.utime(ca, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))
    second = _verify(settings(ca_bundle=str(ca)))
    assert second is not first
    assert isinstance(second, ssl.SSLContext)
    assert second.get_ca_certs()[0]["serialNumber"] != first.get_ca_certs()[0]["serialNumber"]

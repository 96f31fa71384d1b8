"""TLS: verification stays on; a CA file verifies a self-signed hub instead of turning it off."""

from __future__ import annotations

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
    assert _verify(settings()) is True


def test_verification_can_be_turned_off_explicitly():
    assert _verify(settings(verify_tls=False)) is False


def test_a_ca_file_becomes_a_verifying_context(tmp_path):
    ca = _self_signed_ca(tmp_path / "hub-ca.pem")
    context = _verify(settings(ca_bundle=str(ca)))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert any("phee.test CA" in str(cert["subject"]) for cert in context.get_ca_certs())

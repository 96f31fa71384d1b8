"""PHEE manager settings: SPEC 3.1 defaults and validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from g2p_payment_phee.money import AmountFormat
from g2p_payment_phee.phee.settings import PheeSecrets, PheeSettings


def test_defaults_work_against_a_real_phee() -> None:
    s = PheeSettings(tenant_id="gorilla", payee_id_type="phone")
    assert (s.create_batch, s.max_batch_size, s.max_file_bytes) == (True, 500, 100_000)
    assert (s.batch_type_header, s.batch_purpose_header, s.file_name_prefix) == (
        "csv",
        "G2P Payment",
        "ph_ee_",
    )
    assert (s.payment_mode, s.amount_format, s.verify_tls) == (
        "mojaloop",
        AmountFormat.INTEGER,
        True,
    )
    assert s.payment_endpoint_url.endswith("/batchtransactions")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_file_bytes": 100_001}, "max_file_bytes"),
        ({"payment_endpoint_url": "ftp://hub/x"}, "payment_endpoint_url"),
        ({"status_endpoint_url": "not a url"}, "status_endpoint_url"),
        ({"callback_base_url": "https://hüb.example/api/v1"}, "callback_base_url"),
        ({"batch_type_header": "type"}, "batch_type_header"),
        ({"payer_id": "12,3"}, "payer_id"),
        ({"tenant_id": ""}, "tenant_id"),
        ({"tenant_id": "a\r\nX-Evil: 1"}, "tenant_id"),
        ({"file_name_prefix": "../"}, "file_name_prefix"),
        ({"note_template": "{secret}"}, "note_template"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_bad_settings_name_their_field(change: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"tenant_id": "gorilla", "payee_id_type": "phone", **change}
    with pytest.raises(ValidationError) as error:
        PheeSettings.model_validate(values)
    assert field in str(error.value)


def test_reg_id_needs_its_id_type() -> None:
    with pytest.raises(ValidationError, match="reg_id_type_for_payee_id is required"):
        PheeSettings(tenant_id="t", payee_id_type="reg_id")
    ok = PheeSettings(tenant_id="t", payee_id_type="reg_id", reg_id_type_for_payee_id="National ID")
    assert ok.reg_id_type_for_payee_id == "National ID"


def test_signing_key_must_be_an_rsa_pem() -> None:
    with pytest.raises(ValidationError, match="not a PEM private key"):
        PheeSecrets(signing_private_key="-----BEGIN NONSENSE-----")

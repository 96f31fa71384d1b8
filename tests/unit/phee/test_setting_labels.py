"""The seed's labels live on the settings models: a title on every field, a label on every
choice (read by the manager form, ``managers show`` and the OpenAPI descriptions)."""

from __future__ import annotations

from enum import StrEnum

import pytest
from pydantic import BaseModel

from g2p_payment_phee.money import AmountFormat
from g2p_payment_phee.payments.default_manager import DefaultSettings
from g2p_payment_phee.payments.payees import PayeeOption
from g2p_payment_phee.phee.settings import MsisdnFormat, PheeSecrets, PheeSettings

MODELS: list[type[BaseModel]] = [PheeSettings, PheeSecrets, DefaultSettings]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_setting_has_a_title_and_a_description(model: type[BaseModel]) -> None:
    untitled = [name for name, info in model.model_fields.items() if not info.title]
    assert untitled == []
    undescribed = [name for name, info in model.model_fields.items() if not info.description]
    assert undescribed == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_choice_of_the_settings_enums_has_a_label(model: type[BaseModel]) -> None:
    enums = [
        info.annotation
        for info in model.model_fields.values()
        if isinstance(info.annotation, type) and issubclass(info.annotation, StrEnum)
    ]
    for enum in enums:
        for member in enum:
            label = getattr(member, "label", None)
            assert isinstance(label, str), (enum.__name__, member)
            assert label.strip(), (enum.__name__, member)
    assert {PayeeOption, AmountFormat, MsisdnFormat} >= set(enums)


def test_the_seed_s_labels() -> None:
    titles = {name: info.title for name, info in PheeSettings.model_fields.items()}
    assert titles["create_batch"] == "Automatically Create Batch"
    assert titles["payee_id_type"] == "Payee ID Field"
    assert titles["reg_id_type_for_payee_id"] == "Payee DFSP ID Type"
    assert titles["payee_id_type_to_send"] == "Payee ID Type Rewritten"
    assert titles["batch_type_header"] == "Batch Transaction Type Header"
    assert titles["batch_purpose_header"] == "Batch Transaction Purpose Header"
    assert titles["file_name_prefix"] == "Filename Prefix"
    assert titles["auth_endpoint_url"] == "Authentication Endpoint URL"
    assert titles["tenant_id"] == "Tenant ID"
    assert [option.label for option in PayeeOption] == [
        "Bank Account Number",
        "IBAN",
        "Phone",
        "Email",
        "Registrant ID",
    ]
    default_titles = {name: info.title for name, info in DefaultSettings.model_fields.items()}
    assert default_titles["payee_id_type"] == "Payee ID Field"

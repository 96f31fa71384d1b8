"""Build a manager's payee rule, looking up the registrant-ID type it names."""

from __future__ import annotations

from typing import Annotated, Protocol

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.payees import PayeeOption, PayeeRule
from g2p_payment_phee.registry.models import IdType

# The payee settings' fields, declared once for every manager kind's settings model (the
# seed's labels are their titles).
PayeeIdField = Annotated[
    PayeeOption, Field(title="Payee ID Field", description="Which registrant identifier pays")
]
PayeeDfspIdType = Annotated[
    str | None,
    Field(
        title="Payee DFSP ID Type",
        description="The ID type, when the Payee ID Field is Registrant ID",
    ),
]
PayeeIdTypeRewritten = Annotated[
    str,
    Field(
        title="Payee ID Type Rewritten",
        description="Empty: ACCOUNT_ID, IBAN, MSISDN, EMAIL or the ID type's name",
    ),
]


class PayeeSettings(Protocol):
    """The payee settings every manager kind has (names from the upstream module)."""

    @property
    def payee_id_type(self) -> PayeeOption: ...
    @property
    def payee_id_type_to_send(self) -> str: ...
    @property
    def reg_id_type_for_payee_id(self) -> str | None: ...


def rule_for(session: Session, settings: PayeeSettings) -> PayeeRule:
    """The payee rule a manager's settings describe."""
    s = settings
    return payee_rule(session, s.payee_id_type, s.payee_id_type_to_send, s.reg_id_type_for_payee_id)


def payee_rule(
    session: Session, option: PayeeOption, type_to_send: str, id_type_name: str | None
) -> PayeeRule:
    """The rule for ``option``; for ``reg_id`` the ID type must exist (its regex is applied)."""
    if option is not PayeeOption.REGISTRANT_ID:
        return PayeeRule.build(option, type_to_send)
    id_type = session.scalar(select(IdType).where(IdType.name == id_type_name))
    if id_type is None:
        raise ConfigurationError(
            _("ID type {id_type_name!r} (reg_id_type_for_payee_id) does not exist").format(
                id_type_name=id_type_name
            )
        )
    return PayeeRule.build(option, type_to_send, id_type.name, id_type.validation_regex)

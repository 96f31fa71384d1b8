"""The PHEE bulk CSV (SPEC 4): exact columns, ``\\n`` line ends, no quoting, no trailing newline.

PHEE splits lines on commas and understands no quoting, so nothing written here may hold a
comma, a double quote or a line break: identifiers that would need them never reach this module
(preparation refuses them), and the note has them replaced.

The note carries program and cycle names, which anyone allowed to name them controls, and the
file is often opened in a spreadsheet. A note that would start with ``=``, ``+``, ``-`` or ``@``
(a formula; tabs and CRs are already gone) gets a leading apostrophe, the OWASP neutralisation.
Quoting the cell is not an option (PHEE would keep the quotes or split on them), and the
apostrophe is one more plain character for PHEE.

Phone payees are stored as preparation validated them, in E.164 (``+254712000101``); the file
writes them as the manager's ``msisdn_format`` says (digits only by default, as PHEE's fixtures
and mobile-money connectors expect). The conversion happens here, when a line is written, so a
file stored at preparation keeps its bytes, and one rendered at send time follows the settings
of that moment like every other column.
"""

from __future__ import annotations

from dataclasses import dataclass

from g2p_payment_phee.payments.files import safe_text
from g2p_payment_phee.payments.payees import PayeeOption
from g2p_payment_phee.phee.settings import MsisdnFormat, PheeSettings, note_template_parts

COLUMNS = (
    "id",
    "request_id",
    "payment_mode",
    "payer_identifier_type",
    "payer_identifier",
    "payee_identifier_type",
    "payee_identifier",
    "amount",
    "currency",
    "note",
)
HEADER = ",".join(COLUMNS)


def render_note(template: str, program: str, cycle: str) -> str:
    """The note from a template holding only ``{program}`` and ``{cycle}``, made safe_text.

    Plain substitution, never ``str.format``: a stored template cannot reach attributes.
    """
    values = {"program": program, "cycle": cycle}
    parts = note_template_parts(template)
    return safe_text(
        "".join(literal + (values[field] if field else "") for literal, field in parts)
    )


def wire_phone(number: str, msisdn_format: MsisdnFormat) -> str:
    """A stored E.164 phone as the file writes it: ``254712000101`` for ``digits``."""
    if msisdn_format is MsisdnFormat.DIGITS and number.startswith("+"):
        return number[1:]
    return number


@dataclass(frozen=True)
class PheeCsvFormat:
    """The PHEE bulk file format for one manager configuration and one cycle."""

    payment_mode: str
    payer_id_type: str
    payer_id: str
    note: str
    header: str = HEADER
    # Phone payees lose their "+" (the manager pays by phone, msisdn_format digits).
    phone_digits: bool = False

    @classmethod
    def for_cycle(cls, settings: PheeSettings, program: str, cycle: str) -> PheeCsvFormat:
        """The format with the note rendered from the manager's template."""
        note = render_note(settings.note_template, program, cycle)
        digits = (
            settings.payee_id_type is PayeeOption.PHONE
            and settings.msisdn_format is MsisdnFormat.DIGITS
        )
        return cls(
            settings.payment_mode,
            settings.payer_id_type,
            settings.payer_id,
            note,
            phone_digits=digits,
        )

    def line(
        self,
        index: int,
        request_id: str,
        payee_type: str,
        payee_value: str,
        amount: str,
        currency: str,
    ) -> str:
        """One row: ``id,request_id,payment_mode,…,amount,currency,note``."""
        if self.phone_digits and payee_value.startswith("+"):
            payee_value = payee_value[1:]
        return (
            f"{index},{request_id},{self.payment_mode},{self.payer_id_type},{self.payer_id},"
            f"{payee_type},{payee_value},{amount},{currency},{self.note}"
        )

"""The PHEE bulk CSV (SPEC 4): exact columns, ``\\n`` line ends, no quoting, no trailing newline.

PHEE splits lines on commas and understands no quoting, so nothing written here may hold a
comma, a double quote or a line break: identifiers that would need them never reach this module
(preparation refuses them), and the note has them replaced.

The note carries program and cycle names, which anyone allowed to name them controls, and the
file is often opened in a spreadsheet. A note that would start with ``=``, ``+``, ``-`` or ``@``
(a formula; tabs and CRs are already gone) gets a leading apostrophe, the OWASP neutralisation.
Quoting the cell is not an option (PHEE would keep the quotes or split on them), and the
apostrophe is one more plain character for PHEE.
"""

from __future__ import annotations

from dataclasses import dataclass

from g2p_payment_phee.payments.files import safe_text
from g2p_payment_phee.phee.settings import PheeSettings, note_template_parts

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


@dataclass(frozen=True)
class PheeCsvFormat:
    """The PHEE bulk file format for one manager configuration and one cycle."""

    payment_mode: str
    payer_id_type: str
    payer_id: str
    note: str
    header: str = HEADER

    @classmethod
    def for_cycle(cls, settings: PheeSettings, program: str, cycle: str) -> PheeCsvFormat:
        """The format with the note rendered from the manager's template."""
        note = render_note(settings.note_template, program, cycle)
        return cls(settings.payment_mode, settings.payer_id_type, settings.payer_id, note)

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
        return (
            f"{index},{request_id},{self.payment_mode},{self.payer_id_type},{self.payer_id},"
            f"{payee_type},{payee_value},{amount},{currency},{self.note}"
        )

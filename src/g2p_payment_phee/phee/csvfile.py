"""The PHEE bulk CSV (SPEC 4): exact columns, ``\\n`` line ends, no quoting, no trailing newline.

PHEE splits lines on commas and understands no quoting, so nothing written here may hold a
comma, a double quote or a line break: identifiers that would need them never reach this module
(preparation refuses them), and the note has them replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from g2p_payment_phee.phee.settings import PheeSettings

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
_UNSAFE_TEXT = re.compile(r'[,"\r\n]+')


def safe_text(text: str) -> str:
    """Free text made safe for PHEE's comma split: commas, quotes and line breaks become spaces."""
    return _UNSAFE_TEXT.sub(" ", text).strip()


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
        note = safe_text(settings.note_template.format(program=program, cycle=cycle))
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

"""Batch files: the format a manager writes its batches in, and rendering stored payments.

A format is a header and one line per payment; lines end with ``\\n`` and the file has no
trailing newline (SPEC 4.1), so its size is known row by row while a batch is being filled.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import AmountFormat, format_amount
from g2p_payment_phee.payments.models import Payment, PaymentBatch

_UNSAFE_TEXT = re.compile(r'[,"\r\n]+')
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """Free text made safe for PHEE's comma split and for spreadsheets.

    Commas, quotes and line breaks become spaces, surrounding whitespace (tabs included) goes,
    and text that would still start a formula gets a leading apostrophe (``'=1+2``).
    """
    cleaned = _UNSAFE_TEXT.sub(" ", text).strip()
    return f"'{cleaned}" if cleaned.startswith(FORMULA_PREFIXES) else cleaned


class BatchFileFormat(Protocol):
    """How one manager kind writes a batch file."""

    @property
    def header(self) -> str:
        """The first line of the file."""
        ...

    def line(
        self,
        index: int,
        request_id: str,
        payee_type: str,
        payee_value: str,
        amount: str,
        currency: str,
    ) -> str:
        """The file line of one payment (no line ending); ``index`` is 0-based in the file."""
        ...


@dataclass(frozen=True)
class RenderedFile:
    """A batch file's bytes and their digest."""

    data: bytes
    sha256: str

    @classmethod
    def of(cls, header: str, lines: list[str]) -> RenderedFile:
        data = "\n".join([header, *lines]).encode("utf-8")
        return cls(data, hashlib.sha256(data).hexdigest())


def check_room(fmt: BatchFileFormat, max_file_bytes: int) -> None:
    """Refuse a size limit that cannot hold the header and one typical row."""
    sample = fmt.line(0, "0" * 36, "ACCOUNT_ID", "0" * 20, "1000000", "XXX")
    need = len(fmt.header.encode()) + 1 + len(sample.encode())
    if need > max_file_bytes:
        raise ConfigurationError(
            _("max_file_bytes {max_file_bytes} cannot hold even one row ({need} bytes)").format(
                max_file_bytes=max_file_bytes, need=need
            )
        )


def render_stored_batch(
    session: Session, batch: PaymentBatch, fmt: BatchFileFormat, amount_format: AmountFormat
) -> RenderedFile:
    """The file of a batch from its stored payments, in their stored row order."""
    rows = session.execute(
        select(
            Payment.id,
            Payment.payee_id_type,
            Payment.payee_id_value,
            Payment.amount_issued,
            Payment.currency,
        )
        .where(Payment.batch_id == batch.id)
        .order_by(Payment.batch_row)
    ).tuples()
    lines = [
        fmt.line(
            index, str(pid), ptype, value, format_amount(amount, currency, amount_format), currency
        )
        for index, (pid, ptype, value, amount, currency) in enumerate(rows)
    ]
    return RenderedFile.of(fmt.header, lines)

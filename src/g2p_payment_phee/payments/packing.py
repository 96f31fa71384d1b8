"""Packing payments into batches and their files (SPEC 3.2, 4.3), without a database.

Payments come in their final order. Each becomes the next line of the open batch's file unless
the batch would then hold more than ``max_rows`` payments or more than ``max_bytes`` bytes of
file, or the payment is in another currency: then the batch is closed and the payment opens the
next one. A file is its header and its lines joined by ``\\n`` (SPEC 4.1), so a batch's size is
known line by line and its file is joined once, when it is stored. A line too long for
``max_bytes`` on its own still gets a batch, alone (``files.check_room`` refuses limits that
cannot hold a typical line).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from g2p_payment_phee.payments.files import BatchFileFormat, RenderedFile


class PackRow(NamedTuple):
    """What the packer needs of one payment."""

    request_id: str
    payee_value: str
    amount_text: str  # as the file writes it
    currency: str
    amount: Decimal


@dataclass
class PackedBatch:
    """One batch as packed: its name (a UUID's text, also its id), its place in the cycle, its
    file's lines, the file's size in bytes and the batch's total."""

    name: str
    header: str
    sequence: int = 0  # set when the batch is closed
    currency: str = ""
    lines: list[str] = field(default_factory=list)
    size: int = 0
    amount: Decimal = Decimal(0)

    @property
    def count(self) -> int:
        """How many payments the batch holds."""
        return len(self.lines)

    def rendered(self) -> RenderedFile:
        """The batch's file."""
        return RenderedFile.of(self.header, self.lines)


class BatchPacker:
    """Places payments in batches one by one; closed batches wait in ``closed`` to be taken."""

    def __init__(
        self,
        fmt: BatchFileFormat,
        payee_type: str,
        *,
        max_rows: int,
        max_bytes: int,
        new_name: Callable[[], str],
        last_sequence: int = 0,
    ) -> None:
        self._line = fmt.line
        self._header = fmt.header
        self._header_bytes = len(fmt.header.encode())
        self._payee_type = payee_type
        self._max_rows, self._max_bytes = max_rows, max_bytes
        self._new_name = new_name
        self._sequence = last_sequence
        self.closed: list[PackedBatch] = []
        self.batch = self._open()

    def _open(self) -> PackedBatch:
        return PackedBatch(self._new_name(), self._header, size=self._header_bytes)

    def place(
        self, request_id: str, payee_value: str, amount_text: str, currency: str, amount: Decimal
    ) -> int:
        """Put the payment in the open batch (``self.batch``, closing the previous one when it
        does not fit); returns its 0-based row in that batch's file."""
        batch = self.batch
        lines = batch.lines
        line = self._line(
            len(lines), request_id, self._payee_type, payee_value, amount_text, currency
        )
        grows = 1 + (len(line) if line.isascii() else len(line.encode()))
        if lines and (
            len(lines) >= self._max_rows
            or batch.size + grows > self._max_bytes
            or currency != batch.currency
        ):
            batch = self._close()
            lines = batch.lines
            line = self._line(0, request_id, self._payee_type, payee_value, amount_text, currency)
            grows = 1 + (len(line) if line.isascii() else len(line.encode()))
        lines.append(line)
        batch.size += grows
        batch.amount += amount
        batch.currency = currency
        return len(lines) - 1

    def _close(self) -> PackedBatch:
        """Close the open batch; returns the new open one."""
        self._sequence += 1
        self.batch.sequence = self._sequence
        self.closed.append(self.batch)
        self.batch = self._open()
        return self.batch

    def take_closed(self) -> list[PackedBatch]:
        """The batches closed since they were last taken."""
        closed, self.closed = self.closed, []
        return closed

    def finish(self) -> list[PackedBatch]:
        """Close the open batch if it holds payments; the batches closed and not yet taken."""
        if self.batch.lines:
            self._close()
        return self.take_closed()


def pack(
    rows: Iterable[PackRow],
    fmt: BatchFileFormat,
    payee_type: str,
    *,
    max_rows: int,
    max_bytes: int,
    new_name: Callable[[], str],
    last_sequence: int = 0,
) -> list[PackedBatch]:
    """Every payment packed: the batches in order, each with its file."""
    packer = BatchPacker(
        fmt,
        payee_type,
        max_rows=max_rows,
        max_bytes=max_bytes,
        new_name=new_name,
        last_sequence=last_sequence,
    )
    for row in rows:
        packer.place(*row)
    return packer.finish()

"""What the emulator remembers about a batch, compactly.

A batch keeps its normalised file text and one outcome byte per row; everything else (transfer
fields, amounts) is re-read from the text when asked for. Each row's status is a pure function of
its outcome and the clock: rows that reach the channel stay IN_PROGRESS until the batch's
``due_at`` and then become COMPLETED or FAILED; rows PHEE never pays fail at once.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Outcome(IntEnum):
    """The fate of one row, decided when the batch is accepted."""

    PAID = 0
    FAILS_LATER = 1
    REJECTED = 2

    @property
    def accepted_for_payment(self) -> bool:
        """True when the row was handed to the payment channel."""
        return self is not Outcome.REJECTED


class TransferStatus(StrEnum):
    """PHEE's transfer statuses that the emulator emits (never EXCEPTION)."""

    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    IN_PROGRESS = "IN_PROGRESS"


def row_status(outcome: int, final: bool) -> TransferStatus:
    """Status of a row with ``outcome`` when the batch is (or is not yet) final."""
    if outcome == Outcome.REJECTED:
        return TransferStatus.FAILED
    if not final:
        return TransferStatus.IN_PROGRESS
    return TransferStatus.COMPLETED if outcome == Outcome.PAID else TransferStatus.FAILED


@dataclass(frozen=True, slots=True)
class Counts:
    """Counters and amounts of a set of transfers at one moment."""

    total: int
    successful: int
    failed: int
    ongoing: int
    total_amount: int
    successful_amount: int
    failed_amount: int
    pending_amount: int


@dataclass(slots=True)
class Tally:
    """Rows and integer amounts per outcome; enough to compute :class:`Counts` at any time."""

    paid: int = 0
    fails_later: int = 0
    rejected: int = 0
    paid_amount: int = 0
    fails_later_amount: int = 0
    rejected_amount: int = 0

    def add(self, outcome: Outcome, amount: int) -> None:
        """Count one row."""
        if outcome is Outcome.PAID:
            self.paid += 1
            self.paid_amount += amount
        elif outcome is Outcome.FAILS_LATER:
            self.fails_later += 1
            self.fails_later_amount += amount
        else:
            self.rejected += 1
            self.rejected_amount += amount

    def counts(self, final: bool) -> Counts:
        """Counts when the batch is (or is not yet) final."""
        total = self.paid + self.fails_later + self.rejected
        total_amount = self.paid_amount + self.fails_later_amount + self.rejected_amount
        if final:
            failed = self.fails_later + self.rejected
            failed_amount = self.fails_later_amount + self.rejected_amount
            return Counts(
                total, self.paid, failed, 0, total_amount, self.paid_amount, failed_amount, 0
            )
        ongoing = self.paid + self.fails_later
        pending = self.paid_amount + self.fails_later_amount
        return Counts(
            total, 0, self.rejected, ongoing, total_amount, 0, self.rejected_amount, pending
        )

    @classmethod
    def merged(cls, tallies: list[Tally]) -> Tally:
        """The sum of several tallies."""
        total = cls()
        for tally in tallies:
            total.paid += tally.paid
            total.fails_later += tally.fails_later
            total.rejected += tally.rejected
            total.paid_amount += tally.paid_amount
            total.fails_later_amount += tally.fails_later_amount
            total.rejected_amount += tally.rejected_amount
        return total

    def to_list(self) -> list[int]:
        """Serialised form."""
        return [
            self.paid,
            self.fails_later,
            self.rejected,
            self.paid_amount,
            self.fails_later_amount,
            self.rejected_amount,
        ]

    @classmethod
    def from_list(cls, values: list[int]) -> Tally:
        """Inverse of :meth:`to_list`."""
        return cls(*values)


@dataclass(slots=True)
class Chunk:
    """A sub-batch (``sub_batch_id`` set) or the whole batch when it was not split."""

    sub_batch_id: str | None
    mode: str
    tally: Tally = field(default_factory=Tally)


@dataclass(slots=True)
class BatchRecord:
    """One accepted upload.

    ``snapshot_at`` is when the stored batch row was last recomputed (PHEE's aggregate): the
    stored counters are the tally at that time. ``completed_at`` is the completion stamp that
    PHEE's aggregate writes; ``aggregated`` tells whether any aggregate ran yet.
    """

    batch_id: str
    seq: int
    tenant: str
    correlation_id: str
    purpose: str
    file_name: str
    callback_url: str | None
    registering_institution_id: str | None
    program_id: str | None
    payer_override: tuple[str, str] | None
    started_at: float
    due_at: float
    csv_text: str
    outcomes: bytearray
    row_chunks: array[int]
    reasons: dict[int, str]
    chunks: list[Chunk]
    tally: Tally
    snapshot_at: float
    completed_at: float | None = None
    aggregated: bool = False
    finished: bool = False

    @property
    def split(self) -> bool:
        """True when the batch was cut into sub-batches."""
        return any(chunk.sub_batch_id is not None for chunk in self.chunks)

    @property
    def row_count(self) -> int:
        """Number of data rows (transfers)."""
        return len(self.outcomes)

    def is_final(self, now: float) -> bool:
        """True once every transfer has reached a final status."""
        return now >= self.due_at

    def counts(self, now: float) -> Counts:
        """Live counters (what a recompute from transfers gives at ``now``)."""
        return self.tally.counts(self.is_final(now))

    def stored_counts(self) -> Counts:
        """The counters of the stored batch row."""
        return self.tally.counts(self.is_final(self.snapshot_at))

    def transfer_batch_id(self, index: int) -> str:
        """The ``batchId`` of row ``index``'s transfer: its sub-batch id when split."""
        chunk = self.row_chunks[index]
        if chunk < 0:
            return self.batch_id
        return self.chunks[chunk].sub_batch_id or self.batch_id

    @property
    def modes(self) -> str:
        """Comma-joined payment modes of the (sub-)batches, as PHEE reports them."""
        seen: list[str] = []
        for chunk in self.chunks:
            if chunk.mode not in seen:
                seen.append(chunk.mode)
        return ",".join(seen)

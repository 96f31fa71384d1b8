"""What send and sync did, batch by batch: the same shape for every manager kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SendOutcome(StrEnum):
    """What one send attempt did with a batch."""

    SUBMITTED = "submitted"  # uploaded and accepted (or handed over, for manual payment)
    FOUND_AT_PHEE = "found_at_phee"  # an unknown outcome looked up: the hub had it
    REJECTED = "rejected"  # refused for a reason that cannot have reached the hub
    OUTCOME_UNKNOWN = "outcome_unknown"  # may have reached the hub: looked up before any resend
    SKIPPED = "skipped"  # not this run's to send (claimed elsewhere, already sent, gone)


TROUBLE = frozenset({SendOutcome.REJECTED, SendOutcome.OUTCOME_UNKNOWN})
"""The outcomes that leave a batch to be sent again."""


@dataclass(frozen=True)
class BatchSendResult:
    """What happened to one batch when it was sent."""

    batch: str
    outcome: SendOutcome
    message: str = ""
    phee_batch_id: str | None = None


@dataclass
class SendReport:
    """Every batch's send result, in order."""

    results: list[BatchSendResult] = field(default_factory=list)

    def count(self, outcome: SendOutcome) -> int:
        """How many batches ended with ``outcome``."""
        return sum(1 for r in self.results if r.outcome == outcome)


@dataclass
class BatchSyncResult:
    """What one batch's sync found and changed."""

    batch: str
    paid: int = 0
    failed: int = 0
    unchanged: bool = False
    completed: bool = False
    error: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class SyncReport:
    """Every batch's sync result, and what the sync found beyond single batches (duplicates
    at the hub, a check that could not be made)."""

    results: list[BatchSyncResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def reconciled(self) -> int:
        """Payments made final by this sync."""
        return sum(r.paid + r.failed for r in self.results)

"""What send and sync did, batch by batch: the same shape for every manager kind."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchSendResult:
    """What happened to one batch when it was sent."""

    batch: str
    outcome: str  # submitted | found_at_phee | rejected | outcome_unknown | skipped
    message: str = ""
    phee_batch_id: str | None = None


@dataclass
class SendReport:
    """Every batch's send result, in order."""

    results: list[BatchSendResult] = field(default_factory=list)

    def count(self, outcome: str) -> int:
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

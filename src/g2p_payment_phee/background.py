"""What a job's body gets, whoever runs it: the work's parameters, a progress reporter, and
helpers that may share the work.

The job engine (``jobs``) builds a ``Work`` for each run; the bodies live with their domain
(``payments.tasks``, ``import_jobs.tasks``) and see only this, so the domain never imports the
engine. ``Helpers`` is how a body asks other workers to take part of its work: Celery workers
in the scale mode; nobody (``NoHelpers``) when the jobs run in this process.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.users.models import User


class Progress(Protocol):
    """Record how far the work got; written within a second (at once with ``flush``)."""

    def __call__(
        self,
        done: int,
        total: int | None = None,
        message: str | None = None,
        *,
        flush: bool = False,
    ) -> None: ...


class Helpers(Protocol):
    """Other workers that can take chunks of a send or a sync (best-effort: the job does every
    chunk itself too, so a chunk nobody took is still done)."""

    def fan_out_send(self, chunks: Sequence[Sequence[uuid.UUID]], username: str) -> int:
        """Ask helpers to send these chunks of batches as ``username``; how many were asked."""
        ...

    def fan_out_sync(self, chunks: Sequence[Sequence[uuid.UUID]], username: str | None) -> int:
        """Ask helpers to sync these chunks of batches; how many were asked."""
        ...


class NoHelpers:
    """Nobody helps: the job does all of its work itself (jobs run in this process)."""

    def fan_out_send(self, chunks: Sequence[Sequence[uuid.UUID]], username: str) -> int:
        """No helper is asked."""
        return 0

    def fan_out_sync(self, chunks: Sequence[Sequence[uuid.UUID]], username: str | None) -> int:
        """No helper is asked."""
        return 0


@dataclass(frozen=True)
class Work:
    """One run of a job as its body sees it (``attempt``: 1 for the first run, more when the
    job was run again after its worker died)."""

    factory: sessionmaker[Session]
    actor: User | None
    kind: str
    attempt: int
    params: dict[str, Any]
    progress: Progress
    helpers: Helpers

    def uuid(self, name: str) -> uuid.UUID:
        """A parameter as a UUID."""
        return uuid.UUID(str(self.params[name]))

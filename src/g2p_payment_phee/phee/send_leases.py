"""A send's helpers beside its uploads: the database thread and the claims' lease heartbeat.

The send's claims and records run on one database thread, one call at a time, in order, while
the calling thread talks to the hub. Every batch the send holds (claimed, answer not recorded)
has a lease that a heartbeat thread renews every third of its length; if the process dies, the
leases lapse and the batches are released (``payments.resend.release_lapsed_claims``). Both
threads belong to the sending process: killing it leaves nothing running behind.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import database_problem, unit_of_work
from g2p_payment_phee.errors import G2PError
from g2p_payment_phee.i18n import _
from g2p_payment_phee.payments.resend import renew_leases
from g2p_payment_phee.users.models import User

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseThread:
    """Runs ``fn(factory, actor, *args)`` on the send's own thread, one call at a time."""

    def __init__(
        self, factory: sessionmaker[Session], actor: User, name: str = "phee-send-db"
    ) -> None:
        self._factory = factory
        self._actor = actor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self._pool.submit(fn, self._factory, self._actor, *args)

    def __enter__(self) -> DatabaseThread:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True)


class LeaseKeeper:
    """Renews the leases of the batches a send holds, until the send ends."""

    def __init__(self, factory: sessionmaker[Session], claimed_by: str) -> None:
        self._factory = factory
        self._claimed_by = claimed_by
        self._held: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        lease = get_settings().send_lease_seconds
        self._every = lease / 3
        # an upload may start only while the leases surely hold: renewed less than this ago
        self._trust = lease * 5 / 6
        self._renewed = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="phee-send-lease", daemon=True)

    def hold(self, batch_ids: Iterable[uuid.UUID]) -> None:
        """These batches are claimed by this send: keep their leases alive."""
        with self._lock:
            self._held.update(batch_ids)

    def let_go(self, batch_ids: Iterable[uuid.UUID]) -> None:
        """These batches' answers are recorded: their claims are over."""
        with self._lock:
            self._held.difference_update(batch_ids)

    def renew_now(self) -> int:
        """Renew every held lease once; how many were renewed."""
        with self._lock:
            held = list(self._held)
        started = time.monotonic()
        if held:
            with unit_of_work(self._factory) as session:
                renewed = renew_leases(session, held, self._claimed_by)
        else:
            renewed = 0
        self._renewed = started
        return renewed

    def check_held(self) -> None:
        """Refuse to start an upload when the leases may have lapsed (renewals failed for most
        of a lease): another process may already treat these batches as abandoned."""
        if time.monotonic() - self._renewed > self._trust:
            raise G2PError(
                _(
                    "not uploaded: the send's claims could not be renewed in time (is the "
                    "database reachable?); the batch is looked up before it is sent again"
                )
            )

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.renew_now()
            except Exception as error:  # the next beat tries again; the lease has slack
                log.warning("renewing the send's batch leases failed: %s", database_problem(error))

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

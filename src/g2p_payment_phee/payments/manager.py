"""The payment-manager protocol and the registry of manager kinds.

A program names its manager kind (``default`` or ``phee``) and stores that kind's settings; the
services ask ``kind_spec(kind)`` how to validate them and ``build`` a manager from them. Each
kind is a module that registers itself here when imported; the installed kinds are listed once,
as the ``g2p_payment_phee.payment_managers`` entry points in pyproject.toml, and loaded on first
use. So payments depends on no kind (``phee`` depends on payments, never the reverse), and a
new kind changes nothing else in the product.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.i18n import _
from g2p_payment_phee.money import AmountFormat
from g2p_payment_phee.payments.files import BatchFileFormat
from g2p_payment_phee.payments.prepare import PreparationReport, PrepareSpec
from g2p_payment_phee.payments.reports import SendReport, SyncReport
from g2p_payment_phee.programs.models import Cycle, ManagerKind, Program
from g2p_payment_phee.users.models import User


class PaymentManager(Protocol):
    """What every manager kind does for a program (SPEC 3)."""

    kind: ManagerKind

    def validate_configuration(self, session: Session) -> None:
        """Raise ConfigurationError if the settings cannot work (beyond field validation)."""
        ...

    def prepare(
        self,
        session: Session,
        actor: User,
        cycle: Cycle,
        *,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        only_failed: bool = False,
    ) -> PreparationReport:
        """Turn the cycle's approved entitlements into payments and batches (SPEC 3.2);
        ``only_failed``: only entitlements whose every payment failed (retry)."""
        ...

    def prepare_spec(
        self, session: Session, cycle: Cycle, *, only_failed: bool = False
    ) -> PrepareSpec:
        """How this manager's payments are made and batched for the cycle (its payee rule, file
        format and limits): what ``prepare`` uses, and what batching payments issued without a
        batch uses (``payments.batching``)."""
        ...

    def callback_token_hashes(self, batch_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, str]:
        """The hash of each new batch's callback token, stored with the batch when it is
        prepared (the hub's callbacks for a batch carry its token); empty when this manager's
        hub calls nothing back."""
        ...

    def test_connection(self) -> ConnectionReport:
        """Make a harmless call to whatever the manager pays through; what it found, or a
        G2PError saying exactly what failed (a manager with nothing to reach says so)."""
        ...

    @property
    def amount_format(self) -> AmountFormat:
        """How this manager writes amounts in its files."""
        ...

    def file_format(self, cycle: Cycle) -> BatchFileFormat:
        """The file format of this manager's batches for the cycle."""
        ...

    def send(
        self,
        factory: sessionmaker[Session],
        actor: User,
        batch_ids: Sequence[uuid.UUID],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> SendReport:
        """Hand the batches over to be paid (SPEC 3.3). Owns its transactions: a hub call
        never happens inside an open one. ``progress``: how many batches are handled so far."""
        ...

    def sync(
        self,
        factory: sessionmaker[Session],
        actor: User | None,
        batch_ids: Sequence[uuid.UUID],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> SyncReport:
        """Read back what happened to the batches' payments and reconcile them (SPEC 3.4).
        ``progress``: how many batches are read so far."""
        ...


@dataclass(frozen=True)
class ConnectionReport:
    """What a test connection found: a summary for people, and warnings when the hub answered
    but a setting will not work there (a payment mode the hub does not know)."""

    summary: str
    warnings: tuple[str, ...] = ()


class NoSecrets(BaseModel):
    """A manager kind without secrets."""


@dataclass(frozen=True)
class ManagerKindSpec:
    """How to validate a kind's settings and secrets, and how to build its manager."""

    kind: ManagerKind
    label: str
    settings_model: type[BaseModel]
    secrets_model: type[BaseModel]
    build: Callable[[Program, BaseModel, BaseModel], PaymentManager]
    secret_fields: tuple[str, ...] = ()
    # What a new manager of the kind starts from where a setting or secret is not given
    # (settings, secrets): the hub-wide defaults an admin keeps, read when it is configured.
    defaults: Callable[[Session], tuple[dict[str, Any], dict[str, str]]] | None = None
    # Where the manager's settings say it pays through (a hub's URL), for lists; None: nowhere.
    hub: Callable[[Mapping[str, Any]], str | None] | None = None


_KINDS: dict[ManagerKind, ManagerKindSpec] = {}


def register_kind(spec: ManagerKindSpec) -> None:
    """Make a manager kind available to programs."""
    _KINDS[spec.kind] = spec


def kind_spec(kind: ManagerKind) -> ManagerKindSpec:
    """The registered spec of a kind (the built-in kinds are loaded on first use)."""
    _load_builtin_kinds()
    try:
        return _KINDS[kind]
    except KeyError:
        raise ConfigurationError(
            _("no payment manager of kind {kind!r} is installed").format(kind=kind)
        ) from None


ENTRY_POINTS = "g2p_payment_phee.payment_managers"


def _load_builtin_kinds() -> None:
    """Import the installed kinds (each registers itself; importing twice is free)."""
    if len(_KINDS) == len(ManagerKind):
        return
    for entry in entry_points(group=ENTRY_POINTS):
        import_module(entry.value)

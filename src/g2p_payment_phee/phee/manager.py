"""The Payment Hub EE payment manager: a program's PHEE settings put to work."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.i18n import _, lazy_gettext
from g2p_payment_phee.money import AmountFormat
from g2p_payment_phee.payments.files import BatchFileFormat
from g2p_payment_phee.payments.manager import ConnectionReport, ManagerKindSpec, register_kind
from g2p_payment_phee.payments.payee_rules import rule_for
from g2p_payment_phee.payments.payees import PayeeRule
from g2p_payment_phee.payments.prepare import PreparationReport, PrepareSpec, prepare_payments
from g2p_payment_phee.payments.reports import SendReport, SyncReport
from g2p_payment_phee.phee.callbacks import callback_key, callback_token_hash
from g2p_payment_phee.phee.client import PheeClient
from g2p_payment_phee.phee.csvfile import PheeCsvFormat
from g2p_payment_phee.phee.defaults import new_manager_defaults
from g2p_payment_phee.phee.send import send_batches
from g2p_payment_phee.phee.settings import PheeSecrets, PheeSettings
from g2p_payment_phee.phee.sync import sync_batches
from g2p_payment_phee.programs.models import Cycle, ManagerKind, Program
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.permissions import Permission, authorize

_kept = threading.local()  # each thread's kept clients, by program and configuration
KEPT_CLIENTS = 8  # per thread: the oldest is closed when a ninth program is served


@dataclass
class PheeManager:
    """Prepares PHEE bulk files; sends them and reads their status back (see ``phee.send``)."""

    program: Program
    settings: PheeSettings
    secrets: PheeSecrets
    kind: ManagerKind = ManagerKind.PHEE

    def validate_configuration(self, session: Session) -> None:
        """The payee rule must be buildable (e.g. the reg-ID type must exist)."""
        self._payee(session)

    def _payee(self, session: Session) -> PayeeRule:
        return rule_for(session, self.settings)

    @property
    def amount_format(self) -> AmountFormat:
        """How this manager writes amounts in its files."""
        return self.settings.amount_format

    def file_format(self, cycle: Cycle) -> BatchFileFormat:
        """The PHEE CSV with this program's payer, mode and note."""
        return PheeCsvFormat.for_cycle(self.settings, self.program.name, cycle.name)

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
        """prepare_payments with this manager's batching, payee and file settings."""
        authorize(actor, Permission.PREPARE_PAYMENTS)
        spec = self.prepare_spec(session, cycle, only_failed=only_failed)
        return prepare_payments(session, actor, cycle, spec, dry_run=dry_run, progress=progress)

    def prepare_spec(
        self, session: Session, cycle: Cycle, *, only_failed: bool = False
    ) -> PrepareSpec:
        """This program's payee rule, PHEE file, batch limits and callback tokens."""
        s = self.settings
        return PrepareSpec(
            payee=self._payee(session),
            file_format=self.file_format(cycle),
            create_batch=s.create_batch,
            max_batch_size=s.max_batch_size,
            max_file_bytes=s.max_file_bytes,
            file_name_prefix=s.file_name_prefix,
            make_file_at_prepare=s.make_csv_at_prepare,
            amount_format=s.amount_format,
            only_failed=only_failed,
            callback_token_hashes=self.callback_token_hashes,
        )

    def callback_token_hashes(self, batch_ids: Sequence[uuid.UUID]) -> Mapping[uuid.UUID, str]:
        """Each batch's PHEE callback token hash (``phee.callbacks``), with one read of the key."""
        key = callback_key()
        return {batch_id: callback_token_hash(batch_id, key) for batch_id in batch_ids}

    def client(self) -> PheeClient:
        """A client for this manager's hub (close it, or use it as a context manager)."""
        return PheeClient(self.settings, self.secrets)

    def kept_client(self) -> PheeClient:
        """This thread's client for this program and configuration, kept between calls so
        that its token and connections are reused (a worker sending chunk after chunk would
        otherwise fetch a token for each); a new one when the configuration changed."""
        config = self.settings.model_dump_json() + self.secrets.model_dump_json()
        key = (self.program.id, hashlib.sha256(config.encode()).hexdigest())
        clients: dict[tuple[uuid.UUID, str], PheeClient] = _kept.__dict__.setdefault("clients", {})
        client = clients.get(key)
        if client is None:
            stale = [k for k in clients if k[0] == key[0]]
            others = [k for k in clients if k[0] != key[0]]  # oldest first
            stale += others[: max(0, len(others) + 1 - KEPT_CLIENTS)]
            for old in stale:
                clients.pop(old).close()
            client = clients[key] = self.client()
        return client

    def test_connection(self) -> ConnectionReport:
        """Fetch a token and make harmless reads; the exact failure is raised as a PheeError.
        Warns when the hub lists its payment modes and ours is not one of them."""
        with self.client() as hub:
            summary = hub.test_connection()
            modes = hub.payment_modes()
        return payment_mode_report(summary, self.settings.payment_mode, modes)

    def send(
        self,
        factory: sessionmaker[Session],
        actor: User,
        batch_ids: Sequence[uuid.UUID],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> SendReport:
        """Submit batches to PHEE, resolving unknown outcomes first (SPEC 3.3)."""
        client = self.kept_client()
        return send_batches(factory, actor, self, batch_ids, client=client, progress=progress)

    def sync(
        self,
        factory: sessionmaker[Session],
        actor: User | None,
        batch_ids: Sequence[uuid.UUID],
        *,
        progress: Callable[[int], None] | None = None,
    ) -> SyncReport:
        """Read PHEE's status of the batches and reconcile their payments (SPEC 3.4)."""
        client = self.kept_client()
        return sync_batches(factory, actor, self, batch_ids, client=client, progress=progress)


def _build(program: Program, settings: BaseModel, secrets: BaseModel) -> PheeManager:
    assert isinstance(settings, PheeSettings)
    assert isinstance(secrets, PheeSecrets)
    return PheeManager(program, settings, secrets)


MODES_NOT_LISTED = lazy_gettext(
    "the hub does not list its payment modes; "
    "a real PHEE refuses an unknown mode per row at processing"
)


def payment_mode_report(summary: str, mode: str, modes: list[str] | None) -> ConnectionReport:
    """The connection summary with what the hub says of the payment mode: its modes when it
    lists them, and a warning when ``mode`` is not among them (the hub matches them without
    regard to case), since every row would then fail "Payment mode not configured"."""
    if modes is None:
        return ConnectionReport(f"{summary}; {MODES_NOT_LISTED}")
    listed = ", ".join(modes) or "none"
    summary = _("{summary}; payment modes at the hub: {listed}").format(
        summary=summary, listed=listed
    )
    if mode.lower() in {known.lower() for known in modes}:
        return ConnectionReport(summary)
    warning = _(
        "payment mode {mode!r} is not one the hub knows ({listed}): every "
        "payment would fail with 'Payment mode not configured'"
    ).format(mode=mode, listed=listed)
    return ConnectionReport(summary, (warning,))


def _hub(settings: Mapping[str, Any]) -> str | None:
    url = settings.get("payment_endpoint_url")
    return url if isinstance(url, str) and url else None


register_kind(
    ManagerKindSpec(
        kind=ManagerKind.PHEE,
        label="Payment Hub EE",
        settings_model=PheeSettings,
        secrets_model=PheeSecrets,
        build=_build,
        secret_fields=("password", "authorization", "signing_private_key"),
        defaults=new_manager_defaults,
        hub=_hub,
    )
)

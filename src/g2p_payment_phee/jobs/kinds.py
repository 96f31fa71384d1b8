"""Every kind of job, in one table: who may start it, what names its work, and its body.

The bodies live with their domain (``payments.tasks``, ``import_jobs.tasks``) and receive a
``background.Work``; this module only puts them together for the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from g2p_payment_phee.background import Work
from g2p_payment_phee.errors import FieldError, ValidationFailed
from g2p_payment_phee.g2p_connect import tasks as g2p_connect_tasks
from g2p_payment_phee.i18n import _
from g2p_payment_phee.import_jobs.kinds import ImportKind, import_params
from g2p_payment_phee.import_jobs.tasks import run_import
from g2p_payment_phee.payments import tasks as payment_tasks
from g2p_payment_phee.users.permissions import Permission


class JobKind(StrEnum):
    """The kinds of long work the product runs as jobs."""

    PREPARE_CYCLE = "prepare_cycle"
    RETRY_FAILED = "retry_failed"
    BATCH_PAYMENTS = "batch_payments"
    SEND_CYCLE = "send_cycle"
    SYNC_CYCLE = "sync_cycle"
    SYNC_BATCH = "sync_batch"
    IMPORT_REGISTRANTS = "import_registrants"
    IMPORT_ENTITLEMENTS = "import_entitlements"
    G2P_CONNECT_INTAKE = "g2p_connect_intake"


Body = Callable[[Work], dict[str, Any]]


@dataclass(frozen=True)
class KindSpec:
    """What a kind of job needs.

    ``normalize`` checks the parameters (raising ValidationFailed / NotFound) and returns them
    JSON-ready; ``key`` names the work for deduplication (a second submit of the same work joins
    the job under way); ``subject_type``/``subject_param`` say what the job is about; ``system``
    kinds may also be started by the product itself (a verified callback, the sweep) with no
    user; ``body`` does the work and returns the JSON result.
    """

    permission: Permission
    normalize: Callable[[Session, dict[str, Any]], dict[str, Any]]
    key: Callable[[dict[str, Any]], str]
    subject_type: str
    subject_param: str
    body: Body
    system: bool = False


def _cycle_key(kind: JobKind) -> Callable[[dict[str, Any]], str]:
    return lambda params: f"{kind.value}:{params['cycle_id']}"


def _import_key(params: dict[str, Any]) -> str:
    return f"import:{params['file_id']}"


KINDS: dict[str, KindSpec] = {  # by JobKind (a str)
    JobKind.PREPARE_CYCLE: KindSpec(
        Permission.PREPARE_PAYMENTS,
        payment_tasks.prepare_params,
        lambda p: f"prepare_cycle:{p['cycle_id']}" + (":dry_run" if p["dry_run"] else ""),
        "cycle",
        "cycle_id",
        payment_tasks.prepare_cycle,
    ),
    JobKind.RETRY_FAILED: KindSpec(
        Permission.PREPARE_PAYMENTS,
        payment_tasks.cycle_params,
        _cycle_key(JobKind.RETRY_FAILED),
        "cycle",
        "cycle_id",
        payment_tasks.retry_failed,
    ),
    JobKind.BATCH_PAYMENTS: KindSpec(
        Permission.PREPARE_PAYMENTS,
        payment_tasks.batching_params,
        _cycle_key(JobKind.BATCH_PAYMENTS),
        "cycle",
        "cycle_id",
        payment_tasks.add_to_batches,
    ),
    JobKind.SEND_CYCLE: KindSpec(
        Permission.SEND_PAYMENTS,
        payment_tasks.send_params,
        payment_tasks.send_key,
        "cycle",
        "cycle_id",
        payment_tasks.send_cycle,
    ),
    # Sync writes payments' final outcomes, so a person needs the sending role to start one;
    # the product itself (the sweep, verified callbacks) starts them too.
    JobKind.SYNC_CYCLE: KindSpec(
        Permission.SEND_PAYMENTS,
        payment_tasks.cycle_params,
        _cycle_key(JobKind.SYNC_CYCLE),
        "cycle",
        "cycle_id",
        payment_tasks.sync_cycle,
        system=True,
    ),
    JobKind.SYNC_BATCH: KindSpec(
        Permission.SEND_PAYMENTS,
        payment_tasks.batch_params,
        lambda p: f"sync_batch:{p['batch_id']}",
        "batch",
        "batch_id",
        payment_tasks.sync_batch,
        system=True,
    ),
    JobKind.IMPORT_REGISTRANTS: KindSpec(
        Permission.MANAGE_REGISTRY,
        partial(import_params, ImportKind.REGISTRANTS),
        _import_key,
        "import",
        "file_id",
        partial(run_import, ImportKind.REGISTRANTS),
    ),
    JobKind.IMPORT_ENTITLEMENTS: KindSpec(
        Permission.MANAGE_PROGRAMS,
        partial(import_params, ImportKind.ENTITLEMENTS),
        _import_key,
        "cycle",
        "cycle_id",
        partial(run_import, ImportKind.ENTITLEMENTS),
    ),
    # A G2P Connect sender's transaction taken into the domain: started by the product (the
    # receiving API, after the request committed), never by a person.
    JobKind.G2P_CONNECT_INTAKE: KindSpec(
        Permission.MANAGE_PROGRAMS,
        g2p_connect_tasks.intake_params,
        lambda p: f"g2p_connect_intake:{p['txn_id']}",
        "g2p_connect_transaction",
        "txn_id",
        g2p_connect_tasks.take_in,
        system=True,
    ),
}


def kind_spec(kind: str) -> KindSpec:
    """The spec of a job kind, or ValidationFailed naming the known kinds."""
    spec = KINDS.get(kind)
    if spec is None:
        known = ", ".join(sorted(KINDS))
        raise ValidationFailed(
            _("unknown job kind {kind!r}").format(kind=kind),
            [FieldError("kind", _("must be one of: {known}").format(known=known))],
        )
    return spec

"""``/registrants``: search, detail with IDs, phones and bank accounts, bulk import."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from g2p_payment_phee.import_jobs.kinds import ImportKind
from g2p_payment_phee.pagination import DEFAULT_LIMIT
from g2p_payment_phee.payments.history import registrant_history
from g2p_payment_phee.payments.outcomes import Outcome
from g2p_payment_phee.payments.states import PaymentState, PaymentStatus
from g2p_payment_phee.programs.states import EntitlementState
from g2p_payment_phee.registry import service
from g2p_payment_phee.registry.importer import import_registrants
from g2p_payment_phee.registry.listing import list_registrants
from g2p_payment_phee.registry.models import Gender, IdStatus, Registrant, RegistrantKind
from g2p_payment_phee.web.api.jobs import JOB_ACCEPTED, job_accepted
from g2p_payment_phee.web.api.schemas import (
    Amount,
    Cursor,
    Limit,
    Paginated,
    PublicModel,
    page_of,
)
from g2p_payment_phee.web.api.tables import Paging, TablePublic, table_of
from g2p_payment_phee.web.api.uploads import (
    UPLOAD_OPENAPI,
    ApiUpload,
    DryRun,
    FormatQuery,
    ImportReportPublic,
    check_text,
    import_job,
    report_public,
)
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/registrants", tags=["registrants"])


class RegistrantPublic(PublicModel):
    """A registrant as listed."""

    id: uuid.UUID
    reference: str
    kind: RegistrantKind
    name: str
    given_name: str | None
    family_name: str | None
    birthdate: date | None
    gender: Gender | None
    email: str | None
    active: bool
    created_at: datetime


class RegistrantsPublic(TablePublic[RegistrantPublic]):
    """A page of registrants, by reference or by name."""


class RegistrantIdPublic(BaseModel):
    """One ID of a registrant."""

    id_type: str
    value: str
    expiry_date: date | None
    status: IdStatus


class PhonePublic(PublicModel):
    """A phone number in E.164; a disabled one is never used to pay."""

    number: str
    sequence: int
    disabled_at: datetime | None


class BankAccountPublic(BaseModel):
    """A bank account, in payment order."""

    account_number: str
    iban: str | None
    sequence: int
    active: bool
    bank_name: str | None
    bank_code: str | None
    bank_country: str | None


class RegistrantDetailPublic(RegistrantPublic):
    """A registrant with everything that identifies and pays them."""

    address: str | None
    ids: list[RegistrantIdPublic]
    phones: list[PhonePublic]
    bank_accounts: list[BankAccountPublic]


class PaymentAttemptPublic(PublicModel):
    """One payment of an entitlement; ``outcome``: paid, failed, pending (at the hub),
    not_sent (yet) or cancelled."""

    request_id: str
    state: PaymentState
    status: PaymentStatus | None
    outcome: Outcome
    amount_issued: Amount
    amount_paid: Amount | None
    currency: str
    created_at: datetime
    sent_at: datetime | None
    settled_at: datetime | None
    failure_reason: str | None
    phee_transaction_id: str | None
    batch_id: uuid.UUID | None
    batch_name: str | None
    batch_sequence: int | None


class EntitlementHistoryPublic(PublicModel):
    """One entitlement of the registrant with every payment made for it (oldest first);
    ``outcome`` sums them up (``rejected`` at approval, ``not_sent`` when none yet)."""

    entitlement_id: uuid.UUID
    code: str
    program_id: uuid.UUID
    program_name: str
    cycle_id: uuid.UUID
    cycle_name: str
    cycle_start_date: date
    amount: Amount
    currency: str
    state: EntitlementState
    outcome: Outcome
    attempts: int
    payments: list[PaymentAttemptPublic]


class RegistrantPaymentsPublic(Paginated[EntitlementHistoryPublic]):
    """A page of a registrant's entitlements, newest cycle first."""


@router.get("")
def search(
    user: ApiUser,
    session: DbSession,
    paging: Paging,
    q: str | None = Query(
        None, max_length=300, description="Reference prefix, part of the name, ID value or phone"
    ),
    kind: RegistrantKind | None = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RegistrantsPublic:
    """Registrants by reference (or ``sort=name``), optionally matching ``q``, with their
    count."""
    page = list_registrants(session, user, query=q, kind=kind, page=paging.sized(limit))
    items = [RegistrantPublic.model_validate(r) for r in page.items]
    return RegistrantsPublic.model_validate(table_of(items, page))


@router.post(
    "/import",
    openapi_extra=UPLOAD_OPENAPI,
    response_model=ImportReportPublic,
    responses=JOB_ACCEPTED,
)
def import_file(
    user: ApiUser,
    upload: ApiUpload,
    session: DbSession,
    dry_run: DryRun = False,
    fmt: FormatQuery = None,
) -> Any:
    """Import registrants (CSV or JSON; see docs/import.md): valid rows land, rejected rows come
    back with row, field and reason. ``dry_run`` checks everything and writes nothing. A file
    over 1 MB is imported by a job: 202 with the job, whose result is the same report."""
    path = upload.require()
    check_text(path)
    chosen = upload.format(fmt)
    job = import_job(session, user, ImportKind.REGISTRANTS, upload, fmt=chosen, dry_run=dry_run)
    if job is not None:
        return job_accepted(job)
    report = import_registrants(
        session, user, path, fmt=chosen, dry_run=dry_run, file_name=upload.name
    )
    return report_public(report)


@router.get("/{reference}")
def read_registrant(reference: str, user: ApiUser, session: DbSession) -> RegistrantDetailPublic:
    """One registrant by reference, with IDs, phones and bank accounts."""
    registrant = service.get_registrant(session, user, reference)
    return _detail(registrant)


@router.get("/{reference}/payments")
def payment_history(
    reference: str,
    user: ApiUser,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> RegistrantPaymentsPublic:
    """The registrant's entitlements in every program, newest cycle first, each with its
    payments (failed and cancelled attempts too) and its outcome."""
    registrant = service.get_registrant(session, user, reference)
    page = registrant_history(session, user, registrant.id, cursor=cursor, limit=limit)
    return RegistrantPaymentsPublic.model_validate(page_of(EntitlementHistoryPublic, page))


def _detail(registrant: Registrant) -> RegistrantDetailPublic:
    base = RegistrantPublic.model_validate(registrant).model_dump()
    ids = [
        RegistrantIdPublic(
            id_type=i.id_type.name, value=i.value, expiry_date=i.expiry_date, status=i.status
        )
        for i in registrant.ids
    ]
    accounts = [
        BankAccountPublic(
            account_number=a.account_number,
            iban=a.iban,
            sequence=a.sequence,
            active=a.active,
            bank_name=a.bank.name if a.bank else None,
            bank_code=a.bank.code if a.bank else None,
            bank_country=a.bank.country if a.bank else None,
        )
        for a in registrant.bank_accounts
    ]
    return RegistrantDetailPublic.model_validate(
        {
            **base,
            "address": registrant.address,
            "ids": ids,
            "phones": [PhonePublic.model_validate(p) for p in registrant.phones],
            "bank_accounts": accounts,
        }
    )

"""The audit log in words: a sentence for every kind of event, and its details as labelled rows.

The events keep their codes (``user.signed_in``) and JSON details for filters, exports and the
API; the page shows people what happened. Every ``AuditAction`` has its sentence here (a test
checks), written so that it follows the user's name: "alice *approved the cycle*".
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from g2p_payment_phee.audit import AuditAction

_A = AuditAction

SENTENCES: dict[AuditAction, str] = {
    _A.API_TOKEN_CREATED: "created the API token “{name}”",
    _A.API_TOKEN_REVOKED: "revoked the API token “{name}”",
    _A.BATCH_CALLBACK: "received the hub's callback for the batch",
    _A.BATCH_CANCELLED: "cancelled the batch",
    _A.BATCH_COMPLETED: "saw the batch complete at the hub",
    _A.BATCH_DUPLICATED_AT_HUB: "found the batch held more than once at the hub",
    _A.BATCH_FILE_RENDERED: "wrote the batch's payment file",
    _A.BATCH_OUTCOME_UNKNOWN: "could not tell whether the hub received the batch",
    _A.BATCH_PREPARED: "prepared the batch",
    _A.BATCH_REJECTED: "saw the hub reject the batch",
    _A.BATCH_SENDING: "started sending the batch",
    _A.BATCH_SUBMITTED: "submitted the batch to the hub",
    _A.BATCH_SYNCED: "synced the batch: {paid} paid, {failed} failed",
    _A.CYCLE_APPROVED: "approved the cycle",
    _A.CYCLE_CANCELLED: "cancelled the cycle",
    _A.CYCLE_CREATED: "created the cycle ({start} to {end})",
    _A.CYCLE_DISTRIBUTED: "marked the cycle distributed",
    _A.CYCLE_DRAFT: "sent the cycle back to draft",
    _A.CYCLE_ENDED: "ended the cycle",
    _A.CYCLE_PAID_TWICE_ACKNOWLEDGED: "acknowledged {payments} payments paid twice",
    _A.CYCLE_TO_APPROVE: "submitted the cycle for approval",
    _A.ENTITLEMENT_APPROVED: "approved the entitlement",
    _A.ENTITLEMENT_CANCELLED: "cancelled the entitlement",
    _A.ENTITLEMENT_DRAFT: "sent the entitlement back to draft",
    _A.ENTITLEMENT_EXPIRED: "marked the entitlement expired",
    _A.ENTITLEMENT_PENDING_VALIDATION: "submitted the entitlement for validation",
    _A.ENTITLEMENT_REJECTED: "rejected the entitlement",
    _A.ENTITLEMENTS_APPROVED: "approved {count} entitlements",
    _A.ENTITLEMENTS_CANCELLED: "cancelled {count} entitlements",
    _A.ENTITLEMENTS_DRAFT: "sent {count} entitlements back to draft",
    _A.ENTITLEMENTS_EXPIRED: "marked {count} entitlements expired",
    _A.ENTITLEMENTS_GENERATED: "added {count} entitlements of {amount} each",
    _A.ENTITLEMENTS_IMPORTED: "imported entitlements from {file}",
    _A.ENTITLEMENTS_PENDING_VALIDATION: "submitted {count} entitlements for validation",
    _A.ENTITLEMENTS_REJECTED: "rejected {count} entitlements",
    _A.EXPORT_WRITTEN: "exported {rows} rows ({kind}, {format})",
    _A.ID_TYPE_CREATED: "created the ID type “{name}”",
    _A.ID_TYPE_DISABLED: "disabled the ID type “{name}”",
    _A.JOB_FAILED: "saw the job fail",
    _A.JOB_REQUEUED: "put the job back in the queue",
    _A.JOB_SUBMITTED: "started a job",
    _A.JOB_SUCCEEDED: "saw the job succeed",
    _A.MANAGER_CONFIGURED: "changed the program's payment manager settings",
    _A.MANAGER_CONNECTION_TESTED: "tested the connection to the payment manager",
    _A.PAYMENT_PAID_TWICE: "found the payment paid {times_paid} times",
    _A.PAYMENTS_BATCHED: "added {batched} payments to {batches} batches",
    _A.PAYMENTS_CANCELLED: "cancelled payments of the cycle",
    _A.PAYMENTS_PREPARED: "prepared {created} payments in {batches} batches",
    _A.PAYMENTS_RESULTS_IMPORTED: "imported payment results from {file}",
    _A.PHEE_DEFAULTS_CHANGED: "changed the Payment Hub EE defaults",
    _A.PROGRAM_CREATED: "created the program",
    _A.PROGRAM_ENROLLED: "enrolled {count} registrants in the program",
    _A.REGISTRANT_BANK_ACCOUNT_ADDED: "added a bank account",
    _A.REGISTRANT_CREATED: "registered {reference}",
    _A.REGISTRANT_ID_SET: "set the registrant's {id_type}",
    _A.REGISTRANT_MEMBER_ADDED: "added {member} to the group",
    _A.REGISTRANT_PHONE_ADDED: "added the phone {number}",
    _A.REGISTRANT_PHONE_DISABLED: "disabled the phone {number}",
    _A.REGISTRANT_PHONE_ENABLED: "enabled the phone {number}",
    _A.REGISTRANT_UPDATED: "updated the registrant",
    _A.REGISTRY_IMPORTED: "imported registrants from {file}",
    _A.USER_CREATED: "created the user {username}",
    _A.USER_DISABLED: "disabled the user",
    _A.USER_ENABLED: "enabled the user",
    _A.USER_PASSWORD_CHANGED: "changed their password",
    _A.USER_PASSWORD_RESET: "reset the user's password",
    _A.USER_SIGNED_IN: "signed in",
    _A.USER_SIGNED_OUT: "signed out",
}

SUBJECTS: dict[str, tuple[str, str | None]] = {
    # table name → (what people call it, the page it has)
    "api_tokens": ("API token", None),
    "cycles": ("cycle", "/cycles/{id}"),
    "entitlements": ("entitlement", None),
    "id_types": ("ID type", None),
    "jobs": ("job", "/jobs/{id}"),
    "payment_batches": ("batch", "/batches/{id}"),
    "payments": ("payment", None),
    "phee_defaults": ("Payment Hub EE defaults", None),
    "programs": ("program", "/programs/{id}"),
    "registrants": ("registrant", None),
    "users": ("user", None),
}

MISSING = "…"


class _Lenient(string.Formatter):
    """Fills a sentence from the event's details; a detail an older event lacks reads ``…``."""

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        value = kwargs.get(str(key))
        return MISSING if value is None or value == "" else value


def sentence(action: str, data: Mapping[str, Any] | None = None) -> str:
    """What an event of ``action`` says, filled from ``data``; an unknown code reads as itself
    (events written by an older version keep their code)."""
    try:
        template = SENTENCES[AuditAction(action)]
    except ValueError:
        return action.replace("_", " ").replace(".", ": ")
    return _Lenient().format(template, **dict(data or {}))


@dataclass(frozen=True)
class Subject:
    """What an event is about, as people call it, with its page when it has one."""

    kind: str
    href: str | None


def subject(subject_type: str | None, subject_id: object) -> Subject | None:
    """The event's subject for people (None when it has none)."""
    if not subject_type:
        return None
    kind, page = SUBJECTS.get(subject_type, (subject_type.replace("_", " "), None))
    return Subject(kind, page.format(id=subject_id) if page and subject_id else None)


def label(key: str) -> str:
    """A detail's name for people: ``web_sessions_ended`` → ``Web sessions ended``."""
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def value_text(value: Any) -> str:
    """A detail's value in words: yes/no, lists joined, nested details as ``name: value``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return "; ".join(f"{label(str(k)).lower()}: {value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) if value else "none"
    return str(value)


def details(data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """An event's details as (label, value) rows, in the order they were recorded."""
    return [(label(str(k)), value_text(v)) for k, v in (data or {}).items()]

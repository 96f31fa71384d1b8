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
from g2p_payment_phee.i18n import _, lazy_gettext, lazy_pgettext
from g2p_payment_phee.web.words import word

_A = AuditAction

SENTENCES: dict[AuditAction, Any] = {
    _A.API_TOKEN_CREATED: lazy_gettext("created the API token “{name}”"),
    _A.API_TOKEN_REVOKED: lazy_gettext("revoked the API token “{name}”"),
    _A.BATCH_CALLBACK: lazy_gettext("received the hub's callback for the batch"),
    _A.BATCH_CANCELLED: lazy_gettext("cancelled the batch"),
    _A.BATCH_COMPLETED: lazy_gettext("saw the batch complete at the hub"),
    _A.BATCH_DUPLICATED_AT_HUB: lazy_gettext("found the batch held more than once at the hub"),
    _A.BATCH_FILE_RENDERED: lazy_gettext("wrote the batch's payment file"),
    _A.BATCH_OUTCOME_UNKNOWN: lazy_gettext("could not tell whether the hub received the batch"),
    _A.BATCH_PREPARED: lazy_gettext("prepared the batch"),
    _A.BATCH_REJECTED: lazy_gettext("saw the hub reject the batch"),
    _A.BATCH_SENDING: lazy_gettext("started sending the batch"),
    _A.BATCH_SUBMITTED: lazy_gettext("submitted the batch to the hub"),
    _A.BATCH_SYNCED: lazy_gettext("synced the batch: {paid} paid, {failed} failed"),
    _A.CYCLE_APPROVED: lazy_gettext("approved the cycle"),
    _A.CYCLE_CANCELLED: lazy_gettext("cancelled the cycle"),
    _A.CYCLE_CREATED: lazy_gettext("created the cycle ({start} to {end})"),
    _A.CYCLE_DISTRIBUTED: lazy_gettext("marked the cycle distributed"),
    _A.CYCLE_DRAFT: lazy_gettext("sent the cycle back to draft"),
    _A.CYCLE_ENDED: lazy_gettext("ended the cycle"),
    _A.CYCLE_PAID_TWICE_ACKNOWLEDGED: lazy_gettext("acknowledged {payments} payments paid twice"),
    _A.CYCLE_TO_APPROVE: lazy_gettext("submitted the cycle for approval"),
    _A.ENTITLEMENT_APPROVED: lazy_gettext("approved the entitlement"),
    _A.ENTITLEMENT_CANCELLED: lazy_gettext("cancelled the entitlement"),
    _A.ENTITLEMENT_DRAFT: lazy_gettext("sent the entitlement back to draft"),
    _A.ENTITLEMENT_EXPIRED: lazy_gettext("marked the entitlement expired"),
    _A.ENTITLEMENT_PENDING_VALIDATION: lazy_gettext("submitted the entitlement for validation"),
    _A.ENTITLEMENT_REJECTED: lazy_gettext("rejected the entitlement"),
    _A.ENTITLEMENTS_APPROVED: lazy_gettext("approved {count} entitlements"),
    _A.ENTITLEMENTS_CANCELLED: lazy_gettext("cancelled {count} entitlements"),
    _A.ENTITLEMENTS_DRAFT: lazy_gettext("sent {count} entitlements back to draft"),
    _A.ENTITLEMENTS_EXPIRED: lazy_gettext("marked {count} entitlements expired"),
    _A.ENTITLEMENTS_GENERATED: lazy_gettext("added {count} entitlements of {amount} each"),
    _A.ENTITLEMENTS_IMPORTED: lazy_gettext("imported entitlements from {file}"),
    _A.ENTITLEMENTS_PENDING_VALIDATION: lazy_gettext(
        "submitted {count} entitlements for validation"
    ),
    _A.ENTITLEMENTS_REJECTED: lazy_gettext("rejected {count} entitlements"),
    _A.EXPORT_WRITTEN: lazy_gettext("exported {rows} rows ({kind}, {format})"),
    _A.G2P_CONNECT_DISBURSE_RECEIVED: "received the G2P Connect transaction “{transaction_id}”",
    _A.G2P_CONNECT_SENDER_CREATED: "registered the G2P Connect sender “{sender_id}”",
    _A.G2P_CONNECT_SENDER_DISABLED: "disabled the G2P Connect sender “{sender_id}”",
    _A.ID_TYPE_CREATED: lazy_gettext("created the ID type “{name}”"),
    _A.ID_TYPE_DISABLED: lazy_gettext("disabled the ID type “{name}”"),
    _A.JOB_FAILED: lazy_gettext("saw the job fail"),
    _A.JOB_REQUEUED: lazy_gettext("put the job back in the queue"),
    _A.JOB_SUBMITTED: lazy_gettext("started a job"),
    _A.JOB_SUCCEEDED: lazy_gettext("saw the job succeed"),
    _A.MANAGER_CONFIGURED: lazy_gettext("changed the program's payment manager settings"),
    _A.MANAGER_CONNECTION_TESTED: lazy_gettext("tested the connection to the payment manager"),
    _A.PAYMENT_PAID_TWICE: lazy_gettext("found the payment paid {times_paid} times"),
    _A.PAYMENTS_BATCHED: lazy_gettext("added {batched} payments to {batches} batches"),
    _A.PAYMENTS_CANCELLED: lazy_gettext("cancelled payments of the cycle"),
    _A.PAYMENTS_PREPARED: lazy_gettext("prepared {created} payments in {batches} batches"),
    _A.PAYMENTS_RESULTS_IMPORTED: lazy_gettext("imported payment results from {file}"),
    _A.PHEE_DEFAULTS_CHANGED: lazy_gettext("changed the Payment Hub EE defaults"),
    _A.PROGRAM_CREATED: lazy_gettext("created the program"),
    _A.PROGRAM_ENROLLED: lazy_gettext("enrolled {count} registrants in the program"),
    _A.REGISTRANT_BANK_ACCOUNT_ADDED: lazy_gettext("added a bank account"),
    _A.REGISTRANT_CREATED: lazy_gettext("registered {reference}"),
    _A.REGISTRANT_ID_SET: lazy_gettext("set the registrant's {id_type}"),
    _A.REGISTRANT_MEMBER_ADDED: lazy_gettext("added {member} to the group"),
    _A.REGISTRANT_PHONE_ADDED: lazy_gettext("added the phone {number}"),
    _A.REGISTRANT_PHONE_DISABLED: lazy_gettext("disabled the phone {number}"),
    _A.REGISTRANT_PHONE_ENABLED: lazy_gettext("enabled the phone {number}"),
    _A.REGISTRANT_UPDATED: lazy_gettext("updated the registrant"),
    _A.REGISTRY_IMPORTED: lazy_gettext("imported registrants from {file}"),
    _A.USER_CREATED: lazy_gettext("created the user {username}"),
    _A.USER_DISABLED: lazy_gettext("disabled the user"),
    _A.USER_ENABLED: lazy_gettext("enabled the user"),
    _A.USER_PASSWORD_CHANGED: lazy_gettext("changed their password"),
    _A.USER_PASSWORD_RESET: lazy_gettext("reset the user's password"),
    _A.USER_SIGNED_IN: lazy_gettext("signed in"),
    _A.USER_SIGNED_OUT: lazy_gettext("signed out"),
}

SUBJECTS: dict[str, tuple[Any, str | None]] = {
    # table name → (what people call it, the page it has)
    "api_tokens": (lazy_gettext("API token"), None),
    "cycles": (lazy_gettext("cycle"), "/cycles/{id}"),
    "entitlements": (lazy_gettext("entitlement"), None),
    "id_types": (lazy_gettext("ID type"), None),
    "jobs": (lazy_gettext("job"), "/jobs/{id}"),
    "payment_batches": (lazy_gettext("batch"), "/batches/{id}"),
    "payments": (lazy_gettext("payment"), None),
    "phee_defaults": (lazy_gettext("Payment Hub EE defaults"), None),
    "programs": (lazy_gettext("program"), "/programs/{id}"),
    "registrants": (lazy_gettext("registrant"), None),
    "users": (lazy_gettext("user"), None),
}

# the names of the details events record, for people (others show their key in words)
DETAIL_LABELS: dict[str, Any] = {
    "accepted": lazy_pgettext("detail", "Accepted"),
    "account": lazy_pgettext("detail", "Account"),
    "amount": lazy_pgettext("detail", "Amount"),
    "amount_paid": lazy_pgettext("detail", "Amount paid"),
    "amounts": lazy_pgettext("detail", "Amounts"),
    "attempt": lazy_pgettext("detail", "Attempt"),
    "auto_approve": lazy_pgettext("detail", "Auto-approve"),
    "banks_created": lazy_pgettext("detail", "Banks created"),
    "batched": lazy_pgettext("detail", "Batched"),
    "batches": lazy_pgettext("detail", "Batches"),
    "budget": lazy_pgettext("detail", "Budget"),
    "changed": lazy_pgettext("detail", "Changed"),
    "client_ip": lazy_pgettext("detail", "Client IP"),
    "correlation_id": lazy_pgettext("detail", "Correlation ID"),
    "count": lazy_pgettext("detail", "Count"),
    "created": lazy_pgettext("detail", "Created"),
    "currency": lazy_pgettext("detail", "Currency"),
    "dry_run": lazy_pgettext("detail", "Dry run"),
    "end": lazy_pgettext("detail", "End"),
    "error": lazy_pgettext("detail", "Error"),
    "fee": lazy_pgettext("detail", "Fee"),
    "fields": lazy_pgettext("detail", "Fields"),
    "file": lazy_pgettext("detail", "File"),
    "filters": lazy_pgettext("detail", "Filters"),
    "format": lazy_pgettext("detail", "Format"),
    "from": lazy_pgettext("detail", "From"),
    "from_defaults": lazy_pgettext("detail", "From defaults"),
    "id_type": lazy_pgettext("detail", "ID type"),
    "interrupted": lazy_pgettext("detail", "Interrupted"),
    "kind": lazy_pgettext("detail", "Kind"),
    "manager": lazy_pgettext("detail", "Manager"),
    "max_size": lazy_pgettext("detail", "Max size"),
    "member": lazy_pgettext("detail", "Member"),
    "name": lazy_pgettext("detail", "Name"),
    "number": lazy_pgettext("detail", "Number"),
    "occurrences": lazy_pgettext("detail", "Occurrences"),
    "other_phee_batch_ids": lazy_pgettext("detail", "Other PHEE batch IDs"),
    "params": lazy_pgettext("detail", "Params"),
    "payments": lazy_pgettext("detail", "Payments"),
    "phee_batch_id": lazy_pgettext("detail", "PHEE batch ID"),
    "program": lazy_pgettext("detail", "Program"),
    "reason": lazy_pgettext("detail", "Reason"),
    "reference": lazy_pgettext("detail", "Reference"),
    "regex": lazy_pgettext("detail", "Regex"),
    "registrant_ids_kept": lazy_pgettext("detail", "Registrant IDs kept"),
    "rejected": lazy_pgettext("detail", "Rejected"),
    "replayed": lazy_pgettext("detail", "Replayed"),
    "role": lazy_pgettext("detail", "Role"),
    "rows": lazy_pgettext("detail", "Rows"),
    "secrets": lazy_pgettext("detail", "Secrets"),
    "sender_id": lazy_pgettext("detail", "Sender ID"),
    "stale": lazy_pgettext("detail", "Stale"),
    "start": lazy_pgettext("detail", "Start"),
    "target_type": lazy_pgettext("detail", "Target type"),
    "times_paid": lazy_pgettext("detail", "Times paid"),
    "to": lazy_pgettext("detail", "To"),
    "transaction_id": lazy_pgettext("detail", "Transaction ID"),
    "updated": lazy_pgettext("detail", "Updated"),
    "username": lazy_pgettext("detail", "Username"),
    "web_sessions_ended": lazy_pgettext("detail", "Web sessions ended"),
    "state": lazy_pgettext("detail", "State"),
    "status": lazy_pgettext("detail", "Status"),
}

MISSING = "…"
# details holding a state (``{"from": "draft", "to": "to_approve"}``), shown as its word
STATE_DETAILS = frozenset({"from", "to", "state", "status"})


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
    return _Lenient().format(str(template), **dict(data or {}))


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
    return Subject(str(kind), page.format(id=subject_id) if page and subject_id else None)


def label(key: str) -> str:
    """A detail's name for people: ``web_sessions_ended`` → ``Web sessions ended``."""
    known = DETAIL_LABELS.get(key)
    if known is not None:
        return str(known)
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else key


def value_text(value: Any) -> str:
    """A detail's value in words: yes/no, lists joined, nested details as ``name: value``."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Mapping):
        if not value:
            return _("none")
        return "; ".join(f"{label(str(k)).lower()}: {value_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v) for v in value) if value else _("none")
    return str(value)


def details(data: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """An event's details as (label, value) rows, in the order they were recorded."""
    return [
        (label(str(k)), word(v) if k in STATE_DETAILS and isinstance(v, str) else value_text(v))
        for k, v in (data or {}).items()
    ]

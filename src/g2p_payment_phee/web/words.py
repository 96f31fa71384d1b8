"""Words for the values the pages show as they are: states, roles, kinds of things.

The database and the API keep the machine value (``to_approve``); a page shows the word in the
reader's language ("to approve", « à approuver »). The words are translated in the context
"value": a state "paid" on one payment, apart from the "paid" of "3 paid" elsewhere. A value
missing here is shown with its underscores as spaces, untranslated.
"""

from __future__ import annotations

from typing import Any

from g2p_payment_phee.i18n import lazy_gettext, lazy_pgettext

WORDS: dict[str, Any] = {
    # cycles and entitlements
    "draft": lazy_pgettext("value", "draft"),
    "to_approve": lazy_pgettext("value", "to approve"),
    "approved": lazy_pgettext("value", "approved"),
    "distributed": lazy_pgettext("value", "distributed"),
    "ended": lazy_pgettext("value", "ended"),
    "cancelled": lazy_pgettext("value", "cancelled"),
    "pending_validation": lazy_pgettext("value", "pending validation"),
    "rejected": lazy_pgettext("value", "rejected"),
    "expired": lazy_pgettext("value", "expired"),
    # batches and payments
    "prepared": lazy_pgettext("value", "prepared"),
    "sending": lazy_pgettext("value", "sending"),
    "submitted": lazy_pgettext("value", "submitted"),
    "completed": lazy_pgettext("value", "completed"),
    "outcome_unknown": lazy_pgettext("value", "outcome unknown"),
    "issued": lazy_pgettext("value", "issued"),
    "sent": lazy_pgettext("value", "sent"),
    "reconciled": lazy_pgettext("value", "reconciled"),
    "paid": lazy_pgettext("value", "paid"),
    "failed": lazy_pgettext("value", "failed"),
    "pending": lazy_pgettext("value", "pending"),
    "not_sent": lazy_pgettext("value", "not sent"),
    "not_payable": lazy_pgettext("value", "not payable"),
    # jobs
    "queued": lazy_pgettext("value", "queued"),
    "running": lazy_pgettext("value", "running"),
    "succeeded": lazy_pgettext("value", "succeeded"),
    "prepare_cycle": lazy_pgettext("value", "prepare cycle"),
    "retry_failed": lazy_pgettext("value", "retry failed"),
    "batch_payments": lazy_pgettext("value", "batch payments"),
    "send_cycle": lazy_pgettext("value", "send cycle"),
    "sync_cycle": lazy_pgettext("value", "sync cycle"),
    "sync_batch": lazy_pgettext("value", "sync batch"),
    "import_registrants": lazy_pgettext("value", "import registrants"),
    "import_entitlements": lazy_pgettext("value", "import entitlements"),
    # people and programs
    "admin": lazy_pgettext("value", "admin"),
    "program_manager": lazy_pgettext("value", "program manager"),
    "approver": lazy_pgettext("value", "approver"),
    "viewer": lazy_pgettext("value", "viewer"),
    "individual": lazy_pgettext("value", "individual"),
    "group": lazy_pgettext("value", "group"),
    "female": lazy_pgettext("value", "female"),
    "male": lazy_pgettext("value", "male"),
    "other": lazy_pgettext("value", "other"),
    "unknown": lazy_pgettext("value", "unknown"),
    "valid": lazy_pgettext("value", "valid"),
    "invalid": lazy_pgettext("value", "invalid"),
    "active": lazy_pgettext("value", "active"),
    "enrolled": lazy_pgettext("value", "enrolled"),
    "exited": lazy_pgettext("value", "exited"),
    # connection checks, stored secrets
    "ok": lazy_pgettext("value", "ok"),
    "warning": lazy_pgettext("value", "warning"),
    "set": lazy_pgettext("value", "set"),
    "not set": lazy_pgettext("value", "not set"),
}

# the payment manager kinds' labels (payments/manager.py), translated where pages show them
MANAGER_KIND_LABELS = (lazy_gettext("Manual payment"),)

TARGET_PLURALS: dict[str, Any] = {
    "individual": lazy_gettext("Individuals"),
    "group": lazy_gettext("Groups"),
}


def word(value: object) -> str:
    """The word for an enum value or machine word: ``to_approve`` → "to approve"."""
    raw = str(getattr(value, "value", value) or "")
    found = WORDS.get(raw)
    return str(found) if found is not None else raw.replace("_", " ")


def target_plural(value: object) -> str:
    """Whom a program pays, for people: "Individuals" or "Groups"."""
    raw = str(getattr(value, "value", value) or "")
    found = TARGET_PLURALS.get(raw)
    return str(found) if found is not None else raw.replace("_", " ")

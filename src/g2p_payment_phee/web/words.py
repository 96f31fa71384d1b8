"""Words for the values the pages show as they are: states, roles, kinds of things.

The database and the API keep the machine value (``to_approve``); a page shows the word in the
reader's language ("to approve", « à approuver »).  A value missing here is shown with its
underscores as spaces, untranslated.
"""

from __future__ import annotations

from typing import Any

from g2p_payment_phee.i18n import lazy_gettext

WORDS: dict[str, Any] = {
    # cycles and entitlements
    "draft": lazy_gettext("draft"),
    "to_approve": lazy_gettext("to approve"),
    "approved": lazy_gettext("approved"),
    "distributed": lazy_gettext("distributed"),
    "ended": lazy_gettext("ended"),
    "cancelled": lazy_gettext("cancelled"),
    "pending_validation": lazy_gettext("pending validation"),
    "rejected": lazy_gettext("rejected"),
    "expired": lazy_gettext("expired"),
    # batches and payments
    "prepared": lazy_gettext("prepared"),
    "sending": lazy_gettext("sending"),
    "submitted": lazy_gettext("submitted"),
    "completed": lazy_gettext("completed"),
    "outcome_unknown": lazy_gettext("outcome unknown"),
    "issued": lazy_gettext("issued"),
    "sent": lazy_gettext("sent"),
    "reconciled": lazy_gettext("reconciled"),
    "paid": lazy_gettext("paid"),
    "failed": lazy_gettext("failed"),
    "pending": lazy_gettext("pending"),
    "not_sent": lazy_gettext("not sent"),
    "not_payable": lazy_gettext("not payable"),
    # jobs
    "queued": lazy_gettext("queued"),
    "running": lazy_gettext("running"),
    "succeeded": lazy_gettext("succeeded"),
    "prepare_cycle": lazy_gettext("prepare cycle"),
    "retry_failed": lazy_gettext("retry failed"),
    "batch_payments": lazy_gettext("batch payments"),
    "send_cycle": lazy_gettext("send cycle"),
    "sync_cycle": lazy_gettext("sync cycle"),
    "sync_batch": lazy_gettext("sync batch"),
    "import_registrants": lazy_gettext("import registrants"),
    "import_entitlements": lazy_gettext("import entitlements"),
    # people and programs
    "admin": lazy_gettext("admin"),
    "program_manager": lazy_gettext("program manager"),
    "approver": lazy_gettext("approver"),
    "viewer": lazy_gettext("viewer"),
    "individual": lazy_gettext("individual"),
    "group": lazy_gettext("group"),
    "female": lazy_gettext("female"),
    "male": lazy_gettext("male"),
    "other": lazy_gettext("other"),
    "unknown": lazy_gettext("unknown"),
    "valid": lazy_gettext("valid"),
    "invalid": lazy_gettext("invalid"),
    "active": lazy_gettext("active"),
    "enrolled": lazy_gettext("enrolled"),
    "exited": lazy_gettext("exited"),
    # connection checks
    "ok": lazy_gettext("ok"),
    "warning": lazy_gettext("warning"),
}

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

"""A job's result in words: one sentence saying what it did, and the next step as a link.

The result itself stays JSON (the API and the CLI read it); the job page leads with these words
and keeps the figures below, folded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from g2p_payment_phee.i18n import _, ngettext
from g2p_payment_phee.money import display

Result = Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    """Where to go next, and why."""

    text: str
    href: str


@dataclass(frozen=True)
class Words:
    """What a finished job did, and the next step (None when there is nothing to do)."""

    sentence: str
    step: Step | None = None
    # the lists of rows people must read (refused rows, problems), by heading
    lists: tuple[tuple[str, list[Any]], ...] = ()


def _n(result: Result, key: str) -> int:
    value = result.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _entitlements(count: int) -> str:
    return ngettext("{count} entitlement", "{count} entitlements", count).format(count=count)


def _payments(count: int) -> str:
    return ngettext("{count} payment", "{count} payments", count).format(count=count)


def _batches(count: int) -> str:
    return ngettext("{count} batch", "{count} batches", count).format(count=count)


def _rows(count: int) -> str:
    return ngettext("{count} row", "{count} rows", count).format(count=count)


def _money(amount: object, currency: str) -> str:
    """An amount of a job's result (decimal text) for people; as it came when it is not one."""
    try:
        return display(Decimal(str(amount)), currency)
    except (ArithmeticError, ValueError):
        return f"{amount} {currency}"


def _cycle_step(cycle_href: str | None, text: str) -> Step | None:
    return Step(text, cycle_href) if cycle_href else None


def _prepared_tail(result: Result) -> str:
    paid, skipped = _n(result, "already_paid"), _n(result, "skipped_count")
    extra = []
    if paid:
        extra.append(_("{entitlements} already paid").format(entitlements=_entitlements(paid)))
    if skipped:
        extra.append(
            _("{entitlements} could not be paid (listed below)").format(
                entitlements=_entitlements(skipped)
            )
        )
    tail = f" ({'; '.join(extra)})" if extra else ""
    for currency, totals in (result.get("totals") or {}).items():
        if isinstance(totals, Mapping):
            tail += _(", {amount} plus {fees} in fees").format(
                amount=_money(totals.get("amount"), currency),
                fees=_money(totals.get("fees"), currency),
            )
    return tail


def _prepared(result: Result, cycle_href: str | None) -> Words:
    created, batches = _n(result, "created"), _n(result, "batches")
    tail = _prepared_tail(result)
    lists = ((_("Entitlements that could not be paid"), list(result.get("skipped") or [])),)
    if result.get("dry_run"):
        sentence = _(
            "A dry run: preparing now would create {payments} in {batches}{details}. "
            "Nothing was written."
        ).format(payments=_payments(created), batches=_batches(batches), details=tail)
        return Words(sentence, None, lists)
    if not created:
        message = str(result.get("message") or _("nothing to prepare"))
        return Words(_("No payments were prepared: {reason}.").format(reason=message), None, lists)
    sentence = _("{payments} prepared in {batches}{details}.").format(
        payments=_payments(created), batches=_batches(batches), details=tail
    )
    step = _cycle_step(cycle_href, _("Send the batches from the cycle page"))
    return Words(sentence, step, lists)


def _batched(result: Result, cycle_href: str | None) -> Words:
    batched, batches = _n(result, "batched"), _n(result, "batches")
    new_batches = ngettext("{count} new batch", "{count} new batches", batches)
    sentence = _("{payments} added to {batches}.").format(
        payments=_payments(batched), batches=new_batches.format(count=batches)
    )
    return Words(sentence, _cycle_step(cycle_href, _("Send the new batches from the cycle page")))


def _sent(result: Result, cycle_href: str | None) -> Words:
    states = result.get("states") or {}
    total = _n(result, "batches")
    done = sum(int(states.get(s, 0)) for s in ("submitted", "completed"))
    problems = list(result.get("problems") or [])
    sentence = _("{done} of {batches} submitted to the hub.").format(
        done=done, batches=_batches(total)
    )
    if problems:
        sentence += " " + _("{batches} did not go through (below).").format(
            batches=_batches(len(problems))
        )
        step = _cycle_step(cycle_href, _("See the batches on the cycle page and send again"))
    else:
        sentence += " " + _("The hub pays them now; syncing reads the outcomes.")
        step = _cycle_step(cycle_href, _("Follow the payments on the cycle page"))
    return Words(sentence, step, ((_("Batches that did not go through"), problems),))


def _synced(result: Result, cycle_href: str | None) -> Words:
    paid, failed = _n(result, "paid"), _n(result, "failed")
    errors = list(result.get("errors") or [])
    lists = ((_("Batches that could not be synced"), errors),)
    if paid or failed or errors:
        sentence = _("{paid} paid and {failed} failed in {batches}; {completed} complete.").format(
            paid=paid,
            failed=failed,
            batches=_batches(_n(result, "batches")),
            completed=_batches(_n(result, "completed")),
        )
        text = (
            _("Retry the failed payments from the cycle page") if failed else _("Back to the cycle")
        )
        return Words(sentence, _cycle_step(cycle_href, text), lists)
    return Words(
        str(result.get("message") or _("Nothing final yet.")),
        _cycle_step(cycle_href, _("Back to the cycle")),
        lists,
    )


def _imported(result: Result, cycle_href: str | None) -> Words:
    rows, rejected = _n(result, "rows"), _n(result, "rejected")
    what = _("{created} created, {updated} updated").format(
        created=_n(result, "created"), updated=_n(result, "updated")
    )
    refused = ""
    if rejected:
        refused = _("; {rows} refused (listed below)").format(rows=_rows(rejected))
    lists = ((_("Rows refused"), list(result.get("errors") or [])),)
    if result.get("dry_run"):
        sentence = _(
            "A check of {rows}: {counts} if imported{refused}. Nothing was written."
        ).format(rows=_rows(rows), counts=what, refused=refused)
        return Words(sentence, None, lists)
    sentence = _("{rows} read: {counts}{refused}.").format(
        rows=_rows(rows), counts=what, refused=refused
    )
    if cycle_href:
        return Words(sentence, Step(_("See the entitlements on the cycle page"), cycle_href), lists)
    return Words(sentence, Step(_("See the registrants"), "/registrants"), lists)


def _taken_in(result: Result, cycle_href: str | None) -> Words:
    """A G2P Connect transaction taken in: entitlements made, records refused, and how far
    an auto-approving sender's cycle went."""
    made = int(result.get("entitlements", 0))
    refused = int(result.get("rejected", 0))
    sentence = _("{made} entitlements from the G2P Connect transaction; {refused} refused.").format(
        made=made, refused=refused
    )
    stopped = result.get("stopped")
    if stopped:
        sentence += " " + _("It stopped there: {reason}").format(reason=stopped)
    elif result.get("approved"):
        sentence += " " + _("Approved, prepared and sent.")
    return Words(sentence, _cycle_step(cycle_href, _("See the cycle")))


DESCRIBERS: dict[str, Callable[[Result, str | None], Words]] = {
    "prepare_cycle": _prepared,
    "retry_failed": _prepared,
    "batch_payments": _batched,
    "send_cycle": _sent,
    "sync_cycle": _synced,
    "sync_batch": _synced,
    "import_registrants": _imported,
    "import_entitlements": _imported,
    "g2p_connect_intake": _taken_in,
}


def describe(kind: str, result: Result | None, cycle_href: str | None = None) -> Words | None:
    """The words for a finished job's ``result`` (None when it has none yet); ``cycle_href``:
    the page of the cycle it worked on, for the next step."""
    if not result:
        return None
    describer = DESCRIBERS.get(kind)
    if describer is None:
        return Words(str(result.get("message") or _("Done.")))
    return describer(result, cycle_href)

"""A job's result in words: one sentence saying what it did, and the next step as a link.

The result itself stays JSON (the API and the CLI read it); the job page leads with these words
and keeps the figures below, folded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

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


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _cycle_step(cycle_href: str | None, text: str) -> Step | None:
    return Step(text, cycle_href) if cycle_href else None


def _prepared(result: Result, cycle_href: str | None) -> Words:
    created, batches = _n(result, "created"), _n(result, "batches")
    skipped, paid = _n(result, "skipped_count"), _n(result, "already_paid")
    extra = []
    if paid:
        extra.append(f"{_plural(paid, 'entitlement')} already paid")
    if skipped:
        extra.append(f"{_plural(skipped, 'entitlement')} could not be paid (listed below)")
    tail = f" ({'; '.join(extra)})" if extra else ""
    tail += "".join(
        f", {t.get('amount')} {currency} plus {t.get('fees')} {currency} in fees"
        for currency, t in (result.get("totals") or {}).items()
        if isinstance(t, Mapping)
    )
    lists = (("Entitlements that could not be paid", list(result.get("skipped") or [])),)
    if result.get("dry_run"):
        sentence = (
            f"A dry run: preparing now would create {_plural(created, 'payment')} "
            f"in {_plural(batches, 'batch', 'batches')}{tail}. Nothing was written."
        )
        return Words(sentence, None, lists)
    if not created:
        message = str(result.get("message") or "nothing to prepare")
        return Words(f"No payments were prepared: {message}.", None, lists)
    sentence = (
        f"{_plural(created, 'payment')} prepared in {_plural(batches, 'batch', 'batches')}{tail}."
    )
    return Words(sentence, _cycle_step(cycle_href, "Send the batches from the cycle page"), lists)


def _batched(result: Result, cycle_href: str | None) -> Words:
    batched, batches = _n(result, "batched"), _n(result, "batches")
    sentence = (
        f"{_plural(batched, 'payment')} added to {_plural(batches, 'new batch', 'new batches')}."
    )
    return Words(sentence, _cycle_step(cycle_href, "Send the new batches from the cycle page"))


def _sent(result: Result, cycle_href: str | None) -> Words:
    states = result.get("states") or {}
    total = _n(result, "batches")
    done = sum(int(states.get(s, 0)) for s in ("submitted", "completed"))
    problems = list(result.get("problems") or [])
    sentence = f"{done} of {_plural(total, 'batch', 'batches')} submitted to the hub."
    if problems:
        sentence += f" {_plural(len(problems), 'batch', 'batches')} did not go through (below)."
        step = _cycle_step(cycle_href, "See the batches on the cycle page and send again")
    else:
        sentence += " The hub pays them now; syncing reads the outcomes."
        step = _cycle_step(cycle_href, "Follow the payments on the cycle page")
    return Words(sentence, step, (("Batches that did not go through", problems),))


def _synced(result: Result, cycle_href: str | None) -> Words:
    paid, failed = _n(result, "paid"), _n(result, "failed")
    errors = list(result.get("errors") or [])
    lists = (("Batches that could not be synced", errors),)
    if paid or failed or errors:
        batches = _plural(_n(result, "batches"), "batch", "batches")
        completed = _plural(_n(result, "completed"), "batch", "batches")
        sentence = f"{paid} paid and {failed} failed in {batches}; {completed} complete."
        text = "Retry the failed payments from the cycle page" if failed else "Back to the cycle"
        return Words(sentence, _cycle_step(cycle_href, text), lists)
    return Words(
        str(result.get("message") or "Nothing final yet."),
        _cycle_step(cycle_href, "Back to the cycle"),
        lists,
    )


def _imported(result: Result, cycle_href: str | None) -> Words:
    rows, rejected = _n(result, "rows"), _n(result, "rejected")
    created, updated = _n(result, "created"), _n(result, "updated")
    what = f"{created} created, {updated} updated"
    refused = f"; {_plural(rejected, 'row')} refused (listed below)" if rejected else ""
    lists = (("Rows refused", list(result.get("errors") or [])),)
    if result.get("dry_run"):
        sentence = (
            f"A check of {_plural(rows, 'row')}: {what} if imported{refused}. Nothing was written."
        )
        return Words(sentence, None, lists)
    sentence = f"{_plural(rows, 'row')} read: {what}{refused}."
    if cycle_href:
        return Words(sentence, Step("See the entitlements on the cycle page", cycle_href), lists)
    return Words(sentence, Step("See the registrants", "/registrants"), lists)


DESCRIBERS: dict[str, Callable[[Result, str | None], Words]] = {
    "prepare_cycle": _prepared,
    "retry_failed": _prepared,
    "batch_payments": _batched,
    "send_cycle": _sent,
    "sync_cycle": _synced,
    "sync_batch": _synced,
    "import_registrants": _imported,
    "import_entitlements": _imported,
}


def describe(kind: str, result: Result | None, cycle_href: str | None = None) -> Words | None:
    """The words for a finished job's ``result`` (None when it has none yet); ``cycle_href``:
    the page of the cycle it worked on, for the next step."""
    if not result:
        return None
    describer = DESCRIBERS.get(kind)
    if describer is None:
        return Words(str(result.get("message") or "Done."))
    return describer(result, cycle_href)

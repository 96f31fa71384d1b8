"""A job's result in words: a sentence per kind and the next step as a link."""

from __future__ import annotations

from g2p_payment_phee.web import job_words
from g2p_payment_phee.web.job_words import Step

CYCLE = "/cycles/c1"


def test_every_job_kind_has_its_words() -> None:
    from g2p_payment_phee.jobs.kinds import JobKind

    assert set(job_words.DESCRIBERS) == {kind.value for kind in JobKind}


def test_a_preparation_says_what_it_made_and_leads_to_sending() -> None:
    result = {"dry_run": False, "created": 5, "batches": 3, "already_paid": 0, "skipped_count": 1}
    words = job_words.describe("prepare_cycle", {**result, "skipped": [{"code": "E1"}]}, CYCLE)
    assert words is not None
    assert words.sentence == (
        "5 payments prepared in 3 batches (1 entitlement could not be paid (listed below))."
    )
    assert words.step == Step("Send the batches from the cycle page", CYCLE)
    assert words.lists == (("Entitlements that could not be paid", [{"code": "E1"}]),)


def test_a_dry_run_writes_nothing_and_says_so_with_its_money() -> None:
    totals = {"KES": {"count": 1, "amount": "1500.00", "fees": "10.00"}}
    result = {"dry_run": True, "created": 1, "batches": 1, "totals": totals}
    words = job_words.describe("prepare_cycle", result, CYCLE)
    assert words is not None
    assert words.sentence == (
        "A dry run: preparing now would create 1 payment in 1 batch, 1,500.00 KES plus 10.00 KES"
        " in fees. Nothing was written."
    )
    assert words.step is None  # the page offers its own "Prepare payments now" button


def test_a_sync_with_failures_leads_to_the_retry() -> None:
    result = {"batches": 2, "completed": 2, "paid": 5, "failed": 1, "errors": []}
    words = job_words.describe("sync_cycle", result, CYCLE)
    assert words is not None
    assert words.sentence == "5 paid and 1 failed in 2 batches; 2 batches complete."
    assert words.step == Step("Retry the failed payments from the cycle page", CYCLE)


def test_a_sync_with_nothing_final_repeats_the_hubs_progress() -> None:
    message = "nothing final yet: the hub is still processing 4 payments; …"
    result = {"batches": 2, "paid": 0, "failed": 0, "processing": 4, "message": message}
    words = job_words.describe("sync_batch", result, None)
    assert words is not None
    assert words.sentence == message
    assert words.step is None


def test_an_import_names_refused_rows_and_leads_to_what_it_filled() -> None:
    errors = [{"row": 3, "field": "phone", "reason": "not a phone number"}]
    result = {"rows": 2, "created": 1, "updated": 0, "rejected": 1, "errors": errors}
    words = job_words.describe("import_registrants", result)
    assert words is not None
    assert words.sentence == "2 rows read: 1 created, 0 updated; 1 row refused (listed below)."
    assert words.step == Step("See the registrants", "/registrants")
    assert words.lists == (("Rows refused", errors),)


def test_no_result_no_words() -> None:
    assert job_words.describe("sync_cycle", None) is None

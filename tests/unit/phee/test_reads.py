"""Summary, details, batch lookup, test connection, and the retry rules for reads."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from g2p_payment_phee.phee.client import batch_list_url
from g2p_payment_phee.phee.errors import (
    PheeAuthError,
    PheeError,
    PheeNotFound,
    PheeProtocolError,
    PheeUnavailable,
)

from .support import FakeHub, Sleeps, client, json_reply

GEN_2023 = (
    '{"batchId":"b1","requestId":"corr-1","total":3,"ongoing":0,"failed":1,"successful":2,'
    '"totalAmount":1912,"successfulAmount":1062.50,"pendingAmount":0,"failedAmount":849.50,'
    '"status":"Failed","createdAt":"Mon Jul 15 10:00:00 UTC 2024"}'
)
GEN_2022 = {
    "batchId": "b1",
    "requestId": "corr-1",
    "totalTransactions": 3,
    "ongoing": 1,
    "failed": 0,
    "completed": 2,
    "total_amount": 300,
    "completed_amount": "200",
    "ongoing_amount": 100,
    "failed_amount": 0,
}
GEN_SNAKE = {
    "batch_id": "b1",
    "request_id": "corr-1",
    "total": 2,
    "ongoing": 0,
    "failed": 0,
    "successful": 2,
    "totalAmount": 20,
}


def _summary(body: Any):
    hub = FakeHub().on("GET", "/api/v1/batch/b1", json_reply(200, body))
    with client(hub) as phee:
        return phee.batch_summary("b1")


# --- summary --------------------------------------------------------------------------------


def test_summary_reads_current_names_with_decimal_amounts():
    summary = _summary(GEN_2023)
    assert (summary.total, summary.ongoing, summary.successful, summary.failed) == (3, 0, 2, 1)
    assert summary.successful_amount == Decimal("1062.50")
    assert isinstance(summary.total_amount, Decimal)
    assert summary.failed_amount == Decimal("849.50")
    assert summary.batch_id == "b1"
    assert summary.request_id == "corr-1"
    assert summary.status == "Failed"
    assert summary.is_finished  # despite "Failed": nothing ongoing, all counted


def test_summary_reads_2022_names():
    summary = _summary(GEN_2022)
    assert (summary.total, summary.successful) == (3, 2)
    assert summary.successful_amount == Decimal(200)
    assert summary.pending_amount == Decimal(100)
    assert not summary.is_finished


def test_summary_reads_snake_case_ids():
    summary = _summary(GEN_SNAKE)
    assert summary.batch_id == "b1"
    assert summary.request_id == "corr-1"
    assert summary.failed_amount is None


@pytest.mark.parametrize(
    ("counts", "finished"),
    [
        ((0, 0, 0, 0), False),  # an empty batch has not been processed yet
        ((5, 0, 5, 0), True),
        ((5, 0, 4, 0), False),  # totals do not add up: something is missing
        ((5, 1, 4, 0), False),
        ((5, 0, 0, 5), True),
    ],
)
def test_is_finished_looks_at_counts_not_status(counts, finished):
    total, ongoing, successful, failed = counts
    body = {"total": total, "ongoing": ongoing, "successful": successful, "failed": failed}
    assert _summary({**body, "status": "COMPLETED"}).is_finished is finished


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"total": 3, "ongoing": 0}',
        '{"total": 3.5, "ongoing": 0, "successful": 3, "failed": 0}',
        '{"total": -1, "ongoing": 0, "successful": 0, "failed": 0}',
        '{"total": true, "ongoing": 0, "successful": 0, "failed": 0}',
        '{"total": 1, "ongoing": 0, "successful": 1, "failed": 0, "totalAmount": "ten"}',
        '{"total": 1, "ongoing": 0, "successful": 1, "failed": 0, "totalAmount": NaN}',
    ],
)
def test_unusable_summaries_are_protocol_errors(body):
    with pytest.raises(PheeProtocolError) as caught:
        _summary(body)
    assert caught.value.status == 200
    assert caught.value.endpoint == "GET https://hub.test/api/v1/batch/b1"


def test_unknown_batch_is_not_found():
    text = "Batch corresponding to batchId: b1 does not exist."
    hub = FakeHub().on("GET", "/api/v1/batch/b1", httpx.Response(404, text=text))
    with client(hub) as phee, pytest.raises(PheeNotFound) as caught:
        phee.batch_summary("b1")
    assert caught.value.body == text


def test_batch_ids_are_quoted_into_the_path():
    hub = FakeHub().on("GET", "/api/v1/batch/a/b", json_reply(200, GEN_SNAKE))
    hub.on("GET", "/api/v1/batch/a%2Fb", json_reply(200, GEN_SNAKE))
    with client(hub) as phee:
        phee.batch_summary("a/b")
    assert hub.requests[-1].url.raw_path == b"/api/v1/batch/a%2Fb"


# --- retries --------------------------------------------------------------------------------


def test_reads_are_retried_with_capped_backoff_then_succeed():
    sleeps = Sleeps()
    hub = FakeHub().on(
        "GET",
        "/api/v1/batch/b1",
        httpx.Response(503),
        httpx.ReadTimeout("slow"),
        json_reply(200, GEN_SNAKE),
    )
    with client(hub, sleeps=sleeps, attempts=4) as phee:
        assert phee.batch_summary("b1").total == 2
    assert len(hub.calls("/api/v1/batch/b1")) == 3
    assert sleeps.waits == [0.375, 0.75]  # jitter 0.5: 3/4 of 0.5 s, then of 1 s


def test_reads_give_up_after_the_attempts():
    sleeps = Sleeps()
    hub = FakeHub().on("GET", "/api/v1/batch/b1", httpx.Response(502, text="bad gateway"))
    with client(hub, sleeps=sleeps, attempts=3) as phee, pytest.raises(PheeUnavailable) as caught:
        phee.batch_summary("b1")
    assert caught.value.status == 502
    assert len(hub.calls("/api/v1/batch/b1")) == 3
    assert len(sleeps.waits) == 2


def test_errors_that_retrying_cannot_fix_are_not_retried():
    hub = FakeHub().on("GET", "/api/v1/batch/b1", httpx.Response(403, text="no"))
    with client(hub) as phee, pytest.raises(PheeAuthError):
        phee.batch_summary("b1")
    assert len(hub.calls("/api/v1/batch/b1")) == 1


def test_backoff_is_capped():
    from g2p_payment_phee.phee.retry import RetryPolicy

    policy = RetryPolicy(base_delay=1, max_delay=4, jitter=lambda: 1.0)
    assert [policy.delay(n) for n in range(5)] == [1, 2, 4, 4, 4]
    low = RetryPolicy(base_delay=1, max_delay=4, jitter=lambda: 0.0)
    assert [low.delay(n) for n in range(3)] == [0.5, 1, 2]


# --- details --------------------------------------------------------------------------------


def _row(cid: Any, **fields: Any) -> dict[str, Any]:
    row = {
        "clientCorrelationId": cid,
        "status": "COMPLETED",
        "amount": "100",
        "currency": "USD",
        "transactionId": f"tx-{cid}",
        "errorInformation": None,
        "completedAt": 1721037600000,
        "batchId": "sub-1",
    }
    row.update(fields)
    return row


def _page(content: list[Any], number: int, total_pages: int, **extra: Any) -> httpx.Response:
    body = {"content": content, "totalPages": total_pages, "last": number + 1 >= total_pages}
    body.update(extra)
    return json_reply(200, body)


def _details_hub(*pages: httpx.Response) -> FakeHub:
    replies = list(pages)

    def answer(request: httpx.Request) -> httpx.Response:
        return replies[int(request.url.params["pageNo"])]

    return FakeHub().on("GET", "/api/v1/batch/detail", answer)


def test_details_page_through_every_transfer():
    hub = _details_hub(
        _page([_row("p1"), _row("p2")], 0, 2),
        _page([_row("p3", status="failed", errorInformation="Payee account closed")], 1, 2),
    )
    with client(hub) as phee:
        listing = phee.batch_details("b1", page_size=2)
        transfers = list(listing)
    assert [t.client_correlation_id for t in transfers] == ["p1", "p2", "p3"]
    assert listing.complete
    assert listing.pages_read == 2
    assert listing.problems == []
    params = [dict(c.url.params) for c in hub.calls("/api/v1/batch/detail")]
    assert params == [
        {"batchId": "b1", "pageNo": "0", "pageSize": "2"},
        {"batchId": "b1", "pageNo": "1", "pageSize": "2"},
    ]
    failed = transfers[2]
    assert failed.status == "FAILED"
    assert failed.is_failed
    assert not failed.is_completed
    assert failed.error_information == "Payee account closed"
    assert transfers[0].amount == Decimal(100)
    assert transfers[0].completed_at == datetime(2024, 7, 15, 10, 0, tzinfo=UTC)
    assert transfers[0].transaction_id == "tx-p1"
    assert transfers[0].batch_id == "sub-1"


def test_details_strip_quotes_and_read_iso_dates():
    hub = _details_hub(
        _page(
            [
                _row('"p1"', completedAt="2024-07-15T15:30:00+05:30"),
                _row(" p2 ", completedAt="2024-07-15T10:00:00"),
                _row("p3", completedAt="2024-07-15T10:00:00Z", amount=12.50),
                _row("p4", completedAt=None, status="IN_PROGRESS", amount=None),
            ],
            0,
            1,
        )
    )
    with client(hub) as phee:
        transfers = list(phee.batch_details("b1"))
    assert [t.client_correlation_id for t in transfers] == ["p1", "p2", "p3", "p4"]
    noon = datetime(2024, 7, 15, 10, 0, tzinfo=UTC)
    assert [t.completed_at for t in transfers] == [noon, noon, noon, None]
    assert transfers[2].amount == Decimal("12.50")
    assert transfers[3].amount is None
    assert transfers[3].status == "IN_PROGRESS"


def test_bad_rows_are_reported_not_raised():
    hub = _details_hub(
        _page(
            [
                "not an object",
                _row(None),
                _row('""'),
                _row("p4", amount="ten"),
                _row("p5", completedAt="yesterday"),
                _row("p6", status=None),
                _row("p7", status="teleported"),
                _row("p8"),
            ],
            0,
            1,
        )
    )
    with client(hub) as phee:
        listing = phee.batch_details("b1")
        transfers = {t.client_correlation_id: t for t in listing}
    assert sorted(transfers) == ["p4", "p5", "p6", "p7", "p8"]
    assert transfers["p4"].amount is None
    assert transfers["p5"].completed_at is None
    assert transfers["p6"].status == "UNKNOWN"
    assert transfers["p7"].status == "TELEPORTED"  # unknown statuses pass through for the caller
    problems = [(p.row, p.client_correlation_id) for p in listing.problems]
    assert problems == [(0, None), (1, None), (2, None), (3, "p4"), (4, "p5"), (5, "p6")]
    assert "ten" in listing.problems[3].reason
    assert listing.complete


def test_details_without_totals_stop_at_a_short_page():
    hub = _details_hub(
        json_reply(200, {"content": [_row("p1"), _row("p2")]}),
        json_reply(200, {"content": [_row("p3")]}),
    )
    with client(hub) as phee:
        assert len(list(phee.batch_details("b1", page_size=2))) == 3


def test_an_unreadable_page_raises_from_iteration():
    hub = _details_hub(_page([_row("p1")], 0, 2), json_reply(200, '{"content": [{"cli'))
    with client(hub) as phee:
        listing = phee.batch_details("b1", page_size=1)
        assert next(listing).client_correlation_id == "p1"
        with pytest.raises(PheeProtocolError):
            next(listing)
    assert not listing.complete


def test_a_page_without_content_is_a_protocol_error():
    hub = _details_hub(json_reply(200, {"totalPages": 1}))
    with client(hub) as phee, pytest.raises(PheeProtocolError, match="content"):
        list(phee.batch_details("b1"))


# --- find_batch -----------------------------------------------------------------------------


def _listing(rows: list[Any], total: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {"data": rows}
    if total is not None:
        body["totalBatches"] = total
    return json_reply(200, body)


def _item(batch_id: str, corr: str, **extra: Any) -> dict[str, Any]:
    return {
        "batchId": batch_id,
        "requestId": corr,
        "correlationId": corr,
        "totalTransactions": 2,
        "startedAt": 1721037600000,
        "status": "COMPLETED",
        **extra,
    }


def _list_hub(*pages: httpx.Response) -> FakeHub:
    replies = list(pages)

    def answer(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        return replies[int(params["offset"]) // int(params["limit"])]

    return FakeHub().on("GET", "/api/v1/batches", answer)


def test_find_batch_pages_until_it_finds_the_correlation_id():
    hub = _list_hub(
        _listing([_item("b1", "c1"), _item("b2", "c2")], total=4),
        _listing([_item("b3", "c3"), _item("b4", "wanted")], total=4),
    )
    with client(hub) as phee:
        found = phee.find_batch("wanted", page_size=2)
    assert found is not None
    assert found.phee_batch_id == "b4"
    assert found.total == 2
    assert found.started_at == datetime(2024, 7, 15, 10, 0, tzinfo=UTC)
    params = dict(hub.calls("/api/v1/batches")[1].url.params)
    assert params == {"sort": "-startedAt", "limit": "2", "offset": "2"}


@pytest.mark.parametrize(
    "item",
    [
        {"batchId": "b9", "requestId": "wanted"},
        {"batchId": "b9", "correlationId": "wanted"},
        {"batchId": "b9", "X-CorrelationID": "wanted"},
        {"batch_id": "b9", "request_id": '"wanted"'},
    ],
)
def test_find_batch_matches_every_correlation_field(item):
    with client(_list_hub(_listing([item]))) as phee:
        found = phee.find_batch("wanted")
    assert found is not None
    assert found.phee_batch_id == "b9"


def test_find_batch_returns_none_only_after_a_complete_listing():
    hub = _list_hub(
        _listing([_item("b1", "c1"), _item("b2", "c2")], total=3),
        _listing([_item("b3", "c3")], total=3),
    )
    with client(hub) as phee:
        assert phee.find_batch("absent", page_size=2) is None
    assert len(hub.calls("/api/v1/batches")) == 2


def test_find_batch_with_since_sends_dateFrom_in_ops_time():
    hub = _list_hub(_listing([]))
    with client(hub) as phee:
        phee.find_batch("x", since=datetime(2024, 7, 15, 10, 0, tzinfo=UTC))
    params = hub.calls("/api/v1/batches")[0].url.params
    assert params["dateFrom"] == "2024-07-15 15:20:00"  # 10 min skew margin, Asia/Kolkata


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(500),
        httpx.ConnectError("refused"),
        httpx.Response(400),
        json_reply(200, "not json"),
        json_reply(200, {"totalBatches": 3}),
    ],
)
def test_find_batch_never_answers_none_on_error(reply):
    hub = FakeHub().on("GET", "/api/v1/batches", reply)
    with client(hub) as phee, pytest.raises(PheeError):
        phee.find_batch("x")


def test_find_batch_with_unreadable_rows_cannot_prove_absence():
    hub = _list_hub(_listing([_item("b1", "c1"), "garbage", {"batchId": "b3"}]))
    with client(hub) as phee, pytest.raises(PheeProtocolError, match="2 rows"):
        phee.find_batch("x")


def test_find_batch_still_finds_among_unreadable_rows():
    hub = _list_hub(_listing(["garbage", _item("b2", "x")]))
    with client(hub) as phee:
        found = phee.find_batch("x")
    assert found is not None
    assert found.phee_batch_id == "b2"


def test_find_batch_gives_up_on_an_endless_listing():
    hub = FakeHub().on("GET", "/api/v1/batches", _listing([_item("b1", "c1")], total=10**6))
    with client(hub) as phee, pytest.raises(PheeProtocolError, match="did not end"):
        phee.find_batch("x", page_size=1, max_pages=5)


@pytest.mark.parametrize(
    ("status_url", "list_url"),
    [
        ("https://ops.test/api/v1/batch", "https://ops.test/api/v1/batches"),
        ("https://gw.test/ops/api/v1/batch/", "https://gw.test/ops/api/v1/batches"),
        ("https://ops.test/summary", "https://ops.test/api/v1/batches"),
    ],
)
def test_batch_list_url_sits_beside_the_summary(status_url, list_url):
    assert batch_list_url(status_url) == list_url


# --- test connection ------------------------------------------------------------------------


def test_test_connection_fetches_a_token_and_reads():
    hub = FakeHub(enforce_bearer=True).on("GET", "/api/v1/batches", _listing([], total=7))
    hub.on("GET", "/actuator/health", json_reply(200, {"status": "UP"}))
    with client(hub) as phee:
        report = phee.test_connection()
    assert "token OK (valid 600 s)" in report
    assert "(7 batches)" in report
    assert "health UP" in report
    assert hub.issued == 1
    assert hub.calls("/api/v1/batches")[0].url.params["limit"] == "1"


def test_test_connection_reports_the_exact_failure():
    hub = FakeHub().on("POST", "/oauth/token", json_reply(401, {"message": "Invalid credentials"}))
    with client(hub) as phee, pytest.raises(PheeAuthError, match="Invalid credentials") as caught:
        phee.test_connection()
    assert caught.value.status == 401
    assert len(hub.calls("/oauth/token")) == 1  # no retries: the person sees the first failure


def test_test_connection_without_auth_and_without_actuator():
    hub = FakeHub().on("GET", "/api/v1/batches", _listing([], total=0))
    with client(hub, auth_endpoint_url=None) as phee:
        report = phee.test_connection()
    assert "no token" in report
    assert "health not exposed (404)" in report


def test_test_connection_fails_when_the_bulk_processor_is_unreachable():
    hub = FakeHub().on("GET", "/api/v1/batches", _listing([], total=0))
    hub.on("GET", "/actuator/health", httpx.ConnectError("refused"))
    with client(hub) as phee, pytest.raises(PheeUnavailable, match="actuator/health"):
        phee.test_connection()

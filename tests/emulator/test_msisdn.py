"""Payee MSISDNs: digits only in the payment modes that pay phones, as PHEE's connectors want."""

from __future__ import annotations

import httpx
import pytest

from g2p_payment_phee.emulator import EmulatorServer

from .support import batch_id_of, csv_file, detail, rows, summary, upload


def _with_payee(row: str, value: str, kind: str = "msisdn") -> str:
    cells = row.split(",")
    cells[5], cells[6] = kind, value
    return ",".join(cells)


def _statuses(client: httpx.Client, data: list[str]) -> list[dict[str, object]]:
    content: list[dict[str, object]] = detail(
        client, batch_id_of(upload(client, csv_file(data))), pageSize=20
    )["content"]
    return content


@pytest.mark.parametrize("mode", ["mojaloop", "gsma", "GSMA"])
@pytest.mark.parametrize("value", ["+254712000101", "254 712 000101", "0712-000101", "", "２５４"])
def test_a_payee_msisdn_that_is_not_digits_fails_its_row_only(
    client: httpx.Client, mode: str, value: str
) -> None:
    data = rows(3, mode=mode)
    data[1] = _with_payee(data[1], value)
    content = _statuses(client, data)
    assert [t["status"] for t in content] == ["COMPLETED", "FAILED", "COMPLETED"]
    reason = str(content[1]["errorInformation"])
    assert reason.startswith(f"Invalid payee MSISDN '{value}'")
    assert "digits only" in reason


def test_the_type_is_matched_in_any_case_and_the_request_id_is_not_paid(
    client: httpx.Client, hub: EmulatorServer
) -> None:
    data = rows(2)
    data[0] = _with_payee(data[0], "+254712000101", kind="MSISDN")
    batch_id = batch_id_of(upload(client, csv_file(data)))
    body = summary(client, batch_id)
    assert (body["total"], body["failed"], body["successful"]) == (2, 1, 1)
    refused = data[0].split(",")[1]
    status = hub.request_status(refused)
    assert status is not None
    assert (status["accepted"], status["paid"]) == (0, 0)


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        ("closedloop", "msisdn"),  # a bulk connector: accounts, not mobile money
        ("mojaloop", "accountNumber"),  # not an MSISDN
        ("mojaloop", "IBAN"),
    ],
)
def test_other_identifiers_and_bulk_modes_are_not_checked(
    client: httpx.Client, mode: str, kind: str
) -> None:
    data = rows(2, mode=mode)
    data[0] = _with_payee(data[0], "+254712000101" if kind == "msisdn" else "DE89-3704", kind)
    assert [t["status"] for t in _statuses(client, data)] == ["COMPLETED", "COMPLETED"]


def test_the_payer_msisdn_is_not_checked(client: httpx.Client) -> None:
    """PHEE's ErrorAsync-6 fixture has payer ``55dghsdg667`` and completes (peer test BD-007)."""
    data = [r.replace(",msisdn,2547000000,", ",msisdn,55dghsdg667,") for r in rows(2)]
    assert [t["status"] for t in _statuses(client, data)] == ["COMPLETED", "COMPLETED"]


def test_the_sub_batch_mode_decides(client: httpx.Client) -> None:
    """A sub-batch goes where its first row's mode says: a closedloop one pays the row."""
    data = rows(2, mode="closedloop")
    data[1] = _with_payee(data[1].replace(",closedloop,", ",mojaloop,"), "+254712000101")
    assert [t["status"] for t in _statuses(client, data)] == ["COMPLETED", "COMPLETED"]


def test_a_mode_configured_as_payment_is_checked_and_the_check_can_be_switched_off(
    client: httpx.Client, hub: EmulatorServer
) -> None:
    hub.update_config({"processing": {"payment_modes": {"mpesa": "PAYMENT"}}})
    data = rows(2, mode="mpesa")
    data[0] = _with_payee(data[0], "+254712000101")
    assert [t["status"] for t in _statuses(client, data)] == ["FAILED", "COMPLETED"]

    hub.update_config({"processing": {"msisdn_digits_only": False}})
    data = rows(2, mode="mpesa", start=10)
    data[0] = _with_payee(data[0], "+254712000101")
    assert [t["status"] for t in _statuses(client, data)] == ["COMPLETED", "COMPLETED"]

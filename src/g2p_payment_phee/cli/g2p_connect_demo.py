"""``g2p-phee g2p-connect send-demo``: be an MIS for a moment, against a running server.

It starts the MIS stand-in (``g2p_connect.mis``) on this machine, gets a token from the server
with a registered sender's credentials, sends a disburse of made-up beneficiaries paid by
M-Pesa number, waits for the ``on-disburse`` callbacks and prints what they said. The server
must be able to reach the stand-in (``--host``/``--port``): its address is the disburse's
``header.sender_uri``. A sender registered with a token endpoint on the stand-in
(``--token-url http://HOST:PORT/oauth2/client/token``) gets callbacks only with a token from it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from typing import Annotated

import httpx
import typer
from rich.table import Table

from g2p_payment_phee.cli.context import console
from g2p_payment_phee.errors import ConfigurationError, G2PError
from g2p_payment_phee.g2p_connect.mis import Beneficiary, MisStandIn, kenyan_beneficiaries
from g2p_payment_phee.i18n import _

MIS_SECRET_ENV = "G2P_CONNECT_TOKEN_CLIENT_SECRET"  # noqa: S105 (a variable's name)
SHOWN_ROWS = 5
PROGRESS_SECONDS = 5.0


def send_demo(
    sender_id: Annotated[str, typer.Option(help="The registered sender to act as")],
    client_secret_env: Annotated[
        str, typer.Option(help="Name of the variable holding the sender's client secret")
    ],
    url: Annotated[str, typer.Option(help="The server's address")] = "http://127.0.0.1:8000",
    records: Annotated[int, typer.Option(min=1, max=100_000, help="How many records")] = 20,
    amount: Annotated[str, typer.Option(help="Each record's amount, as the spec writes it")] = (
        "1500.00"
    ),
    currency: Annotated[str, typer.Option(help="ISO 4217 currency code")] = "KES",
    seed: Annotated[int, typer.Option(help="Seed of the made-up beneficiaries")] = 7,
    host: Annotated[str, typer.Option(help="Address the MIS stand-in listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Its port (0: any free)")] = 0,
    mis_client_id: Annotated[
        str,
        typer.Option(
            help=f"Client id the server presents to the stand-in (secret: {MIS_SECRET_ENV})"
        ),
    ] = "g2p-payment-phee",
    wait: Annotated[int, typer.Option(min=1, help="Seconds to wait for every record")] = 600,
) -> None:
    """Send a disburse as an MIS, receive the callbacks, print the final statuses."""
    secret = os.environ.get(client_secret_env)
    if not secret:
        raise ConfigurationError(
            _("the variable {name} holding the sender's client secret is not set").format(
                name=client_secret_env
            )
        )
    mis_secret = os.environ.get(MIS_SECRET_ENV)
    people = kenyan_beneficiaries(records, seed=seed, amount=amount, currency=currency)
    references = [b.reference_id for b in people]
    transaction_id = f"DEMO-{uuid.uuid4().hex[:12]}"
    stand_in = MisStandIn(
        client_id=mis_client_id,
        client_secret=mis_secret,
        require_token=bool(mis_secret),
        host=host,
        port=port,
    )
    with stand_in as mis, httpx.Client(base_url=url, timeout=60) as http:
        console.print(
            _("MIS stand-in on {base}: token endpoint {token}, callbacks to {callback}").format(
                base=mis.base_url, token=mis.token_url, callback=mis.callback_url
            )
        )
        ack = _disburse(mis, http, sender_id, secret, transaction_id, people)
        console.print(
            _("disburse {transaction} of {count} records: {ack}").format(
                transaction=transaction_id, count=len(people), ack=ack
            )
        )
        if ack != "ACK":
            raise G2PError(_("the server did not accept the disburse ({ack})").format(ack=ack))
        done = _wait(mis, references, wait)
        _print_statuses(mis, references)
    if not done:
        raise G2PError(_("not every record was final after {seconds} s").format(seconds=wait))


def _disburse(
    mis: MisStandIn,
    http: httpx.Client,
    sender_id: str,
    secret: str,
    transaction_id: str,
    people: list[Beneficiary],
) -> str:
    try:
        answer = mis.disburse(
            http,
            sender_id=sender_id,
            client_secret=secret,
            transaction_id=transaction_id,
            beneficiaries=people,
        )
    except httpx.HTTPStatusError as error:
        raise G2PError(
            _("{url} answered HTTP {status}").format(
                url=error.request.url, status=error.response.status_code
            )
        ) from None
    except httpx.HTTPError as error:
        raise G2PError(
            _("cannot reach {url}: {error}").format(url=http.base_url, error=type(error).__name__)
        ) from None
    return str((answer.get("message") or {}).get("ack_status", "?"))


def _wait(mis: MisStandIn, references: list[str], seconds: int) -> bool:
    """Wait for every record to be final, printing the counts when they change."""
    deadline = time.monotonic() + seconds
    shown: Counter[str] = Counter()
    while True:
        left = deadline - time.monotonic()
        if mis.wait_final(references, min(PROGRESS_SECONDS, max(left, 0))):
            return True
        counts = mis.counts()
        if counts != shown:
            console.print(_("callbacks so far: {counts}").format(counts=_counts(counts)))
            shown = counts
        if left <= 0:
            return False


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "-"


def _print_statuses(mis: MisStandIn, references: list[str]) -> None:
    counts = mis.counts()
    console.print(
        _("final statuses: {succ} succ, {rjct} rjct ({callbacks} callbacks received)").format(
            succ=counts["succ"], rjct=counts["rjct"], callbacks=len(mis.callbacks)
        )
    )
    statuses = mis.statuses
    table = Table(title=_("A few records"))
    for column in (_("reference"), _("payee"), _("status"), _("amount"), _("reason")):
        table.add_column(column)
    failed = [r for r in references if statuses.get(r, {}).get("status") == "rjct"]
    for reference in list(dict.fromkeys(failed[:2] + references))[:SHOWN_ROWS]:
        item = statuses.get(reference, {})
        table.add_row(
            reference,
            str(item.get("payee_fa", "")),
            str(item.get("status", "-")),
            str(item.get("amount", "")),
            str(item.get("status_reason_message", "")),
        )
    console.print(table)

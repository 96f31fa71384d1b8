"""A hub that echoes a secret in any encoding never gets it into an error (issue 18, item 7).

What a batch stores as ``last_error``/``last_response`` is the error's message, endpoint and
body (phee/send.py), so these are what must stay clean.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import httpx
import pytest

from g2p_payment_phee.phee.errors import BODY_LIMIT, REDACTED, PheeError, Redactor

from .support import FakeHub, client

# every character class a writer escapes: quote, backslash, slash, space, non-ASCII (also
# outside the BMP), HTML specials
PASSWORD = 'q"uo\\te/sp ace&<é€😀>-only-the-hub-knows'
USERNAME = "mifos"
CSV = b"id,request_id,amount\n0,r1,100"


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda s: s,
    "url strict": lambda s: quote(s, safe=""),
    "url path": quote,
    "url form": quote_plus,
    "url lower-case hex": lambda s: quote(s, safe="").lower(),
    "json ascii": lambda s: json.dumps(s)[1:-1],
    "json utf-8": lambda s: json.dumps(s, ensure_ascii=False)[1:-1],
    "json upper-case hex": lambda s: re.sub(
        r"\\u[0-9a-f]{4}", lambda m: "\\u" + m[0][2:].upper(), json.dumps(s)[1:-1]
    ),
    "json escaped slash": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    "json in json": lambda s: json.dumps(json.dumps({"password": s}))[1:-1],
    "url in json": lambda s: json.dumps(f"/oauth/token?password={quote_plus(s)}")[1:-1],
    "html": html.escape,
    "basic": lambda s: _basic(USERNAME, s),
    "basic unpadded": lambda s: _basic(USERNAME, s).rstrip("="),
    "basic in json": lambda s: json.dumps({"header": f"Basic {_basic(USERNAME, s)}"}),
}


def _answer(form: Callable[[str], str], status: int) -> httpx.Response:
    body = '{"error": "bad credentials", "echo": "' + form(PASSWORD) + '"}'
    return httpx.Response(status, text=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize("path", ["/oauth/token", "/batchtransactions"])
def test_no_form_of_the_password_reaches_the_error(name: str, path: str) -> None:
    hub = FakeHub().on("POST", path, _answer(FORMS[name], 400))
    secrets = {"password": PASSWORD}
    with (
        client(hub, username=USERNAME, secrets=secrets) as phee,
        pytest.raises(PheeError) as caught,
    ):
        phee.upload_batch(file_name="f.csv", csv_bytes=CSV, correlation_id="c1")
    error = caught.value
    stored = [error.message, error.endpoint, error.body, str(error), repr(error)]
    for text in stored:
        for form in FORMS.values():
            assert form(PASSWORD) not in text, f"{name} leaked into {text[:300]!r}"
    assert REDACTED in error.body
    assert "bad credentials" in error.body  # the hub's own words are kept


def test_the_password_of_a_basic_authorization_value_is_redacted_alone() -> None:
    redact = Redactor([f"Basic {_basic('client', 'very-secret-client')}"])
    assert redact('{"client_secret": "very-secret-client"}') == f'{{"client_secret": "{REDACTED}"}}'


def test_a_secret_across_the_body_limit_is_redacted_before_the_cut() -> None:
    escaped = json.dumps(PASSWORD)[1:-1]
    body = "x" * (BODY_LIMIT - 5) + escaped + "y" * 5_000_000
    hub = FakeHub().on("POST", "/batchtransactions", httpx.Response(500, text=body))
    phee = client(hub, attempts=1, secrets={"password": PASSWORD})
    with phee, pytest.raises(PheeError) as caught:
        phee.upload_batch(file_name="f.csv", csv_bytes=CSV, correlation_id="c1")
    kept = caught.value.body
    assert kept.endswith("…[truncated]")
    assert len(kept) == BODY_LIMIT + len("…[truncated]")
    assert escaped[:5] not in kept  # no head of the secret left where the cut fell

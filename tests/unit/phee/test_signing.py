"""X-SIGNATURE: every reference vector reproduced bit for bit, and PHEE's normalisation."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from hypothesis import given
from hypothesis import strategies as st

from g2p_payment_phee.phee.signing import (
    RequestSigner,
    normalise_csv_payload,
    sign,
    signing_string,
)

CASE_NAMES = [
    "demo7_csv_multipart",
    "nonascii_note_csv_multipart",
    "empty_payload",
    "raw_json_compact",
    "crlf_csv_multipart",
    "long_500_rows_csv_multipart",
    "raw_json_pretty_crlf_not_normalised",
    "blank_line_truncates_csv_multipart",
    "bd008_simulate_text_body",
    "response_202_body_only",
]


def _case(vectors: dict[str, Any], name: str) -> dict[str, Any]:
    return next(case for case in vectors["cases"] if case["name"] == name)


def _payload(case: dict[str, Any]) -> str:
    raw: str = case["raw_payload"]
    return normalise_csv_payload(raw) if case["kind"] == "multipart-csv" else raw


def test_the_vector_file_has_the_ten_cases_we_check(vectors):
    assert sorted(case["name"] for case in vectors["cases"]) == sorted(CASE_NAMES)


@pytest.mark.parametrize("name", [n for n in CASE_NAMES if n != "response_202_body_only"])
def test_request_vectors_bit_for_bit(vectors, name):
    """Payload, signing string, digest and signature all equal the JDK's."""
    case = _case(vectors, name)
    payload = _payload(case)
    assert payload == case["payload"]
    text = signing_string(case["x_correlation_id"], case["tenant"], payload)
    assert text == case["signing_string"]
    assert hashlib.sha3_256(text.encode()).hexdigest() == case["sha3_256_hex"]
    signature = sign(
        vectors["private_key_pkcs8_pem"], case["x_correlation_id"], case["tenant"], payload
    )
    assert signature == case["signature_b64"]
    if case["kind"] == "multipart-csv":
        assert payload.count("\n") + 1 == case["payload_line_count"]


def test_response_vector_signs_the_body_alone(vectors):
    case = _case(vectors, "response_202_body_only")
    signer = RequestSigner(vectors["private_key_pkcs8_pem"])
    assert signer.sign_text(case["raw_payload"]) == case["signature_b64"]


def test_empty_payload_has_no_trailing_colon():
    assert signing_string("corr", "gorilla", "") == "corr:gorilla"
    assert signing_string("corr", "gorilla", "x") == "corr:gorilla:x"


def test_signature_recovers_to_the_hex_digest_with_the_public_key(vectors):
    """What PHEE does to check it: PKCS#1 v1.5 recovery without a hash gives the hex digest."""
    public = load_pem_public_key(vectors["public_key_pem"].encode())
    assert isinstance(public, RSAPublicKey)
    signature = sign(vectors["private_key_pkcs8_pem"], "c-1", "rhino", "a,b\n1,2")
    digest = hashlib.sha3_256(b"c-1:rhino:a,b\n1,2").hexdigest().encode()
    assert (
        public.recover_data_from_signature(base64.b64decode(signature), PKCS1v15(), None) == digest
    )


def test_signer_repr_hides_the_key(vectors):
    signer = RequestSigner(vectors["private_key_pkcs8_pem"])
    assert "PRIVATE" not in repr(signer)
    assert str(signer._n) not in repr(signer)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\r\nb\r\n", "a\nb"),
        ("a\rb", "a\nb"),
        ("a\nb\n\nc", "a\nb"),  # content stops at the first empty line
        ("\na\nb", ""),  # a blank first line empties the payload
        ("a\x0bb\x0cc\u2028d", "a\x0bb\x0cc\u2028d"),  # only CR and LF break lines
        ("\x00\x08 a \x1f", "a"),  # Java trim: every code point up to U+0020
        ("\u00a0a\u00a0", "\u00a0a\u00a0"),  # ...and nothing else (no NBSP)
        ("a  \nb   ", "a  \nb"),  # inner trailing spaces stay, the last ones go
    ],
)
def test_normalisation_matches_the_server(text, expected):
    assert normalise_csv_payload(text) == expected


_csv_lines = st.lists(
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]),
        min_size=1,
    ),
    min_size=1,
    max_size=6,
)


@given(_csv_lines, st.sampled_from(["\n", "\r\n", "\r"]), st.booleans())
def test_normalisation_is_idempotent_and_ignores_line_endings(lines, eol, trailing):
    text = eol.join(lines) + (eol if trailing else "")
    once = normalise_csv_payload(text)
    assert normalise_csv_payload(once) == once
    assert once == normalise_csv_payload("\n".join(lines))
    assert "\r" not in once

"""The upload's file check: its fast path (no empty line possible) agrees with the full rule."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.phee.client import _checked_text
from g2p_payment_phee.phee.signing import normalise_csv_payload


def _full_rule_refuses(text: str) -> bool:
    """PHEE keeps the lines before the first empty one: refused when a non-blank line is lost."""
    payload = normalise_csv_payload(text)
    kept = payload.count("\n") + 1 if payload else 0
    return kept < len([line for line in re.split(r"\r\n|\r|\n", text) if line.strip()])


@given(st.text(alphabet="ab, \t\r\n", max_size=40))
def test_the_check_refuses_exactly_the_files_phee_would_cut(text: str) -> None:
    try:
        assert _checked_text(text.encode()) == text
        refused = False
    except ValidationFailed:
        refused = True
    assert refused == _full_rule_refuses(text)

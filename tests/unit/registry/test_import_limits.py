"""The readers refuse files past the column, line-length and JSON nesting limits, quickly and
naming the limit, for registrants and entitlements alike (issue 18)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from g2p_payment_phee.errors import ImportRejected
from g2p_payment_phee.imports import MAX_COLUMNS, check_json_depth, iter_rows
from g2p_payment_phee.registry.import_reader import read_rows


def _registrants(data: bytes, fmt: str) -> None:
    list(read_rows(data, fmt))  # type: ignore[arg-type]


def _entitlements(data: bytes, fmt: str) -> None:
    list(iter_rows(data, "f", fmt, required=["reference"], optional=["name", "amount"]))  # type: ignore[arg-type]


Reader = Callable[[bytes, str], None]
READERS: list[Reader] = [_registrants, _entitlements]


@pytest.mark.parametrize("read", READERS)
def test_a_header_with_too_many_columns_is_refused(read: Reader) -> None:
    """20,000 repeated columns (quadratic to check before) are refused by their count."""
    with pytest.raises(ImportRejected, match=f"at most {MAX_COLUMNS}"):
        read(b",".join([b"a"] * 20_000) + b"\n", "csv")


@pytest.mark.parametrize("read", READERS)
def test_a_line_past_the_length_limit_is_refused(read: Reader) -> None:
    with pytest.raises(ImportRejected, match="line 2 is longer than 64 K"):
        read(b"reference,name\nP-1," + b"x" * 70_000 + b"\n", "csv")


@pytest.mark.parametrize("read", READERS)
def test_json_nested_too_deep_is_refused_not_a_recursion_error(read: Reader) -> None:
    with pytest.raises(ImportRejected, match="deeper than 64"):
        read(b"[" * 5_000 + b"]" * 5_000, "json")


def test_the_depth_limit_counts_brackets_outside_strings_only() -> None:
    check_json_depth(b"[" * 64 + b'"[[[[{{{{"' + b"]" * 64, "f")
    check_json_depth(b'[{"name": "a \\" [[[[ b"}]', "f")
    with pytest.raises(ImportRejected):
        check_json_depth(b"[" * 65 + b"]" * 65, "f")

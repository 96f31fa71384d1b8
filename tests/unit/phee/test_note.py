"""The PHEE note: a template limited to {program} and {cycle}, rendered without str.format,
and neutralised against spreadsheet formulas while keeping PHEE's comma-split format."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from g2p_payment_phee.payments.files import safe_text
from g2p_payment_phee.phee.csvfile import HEADER, PheeCsvFormat, render_note
from tests.unit.phee.support import settings


@pytest.mark.parametrize(
    "template",
    [
        "{program.__doc__}",
        "{program.__class__.__init__.__globals__}",
        "{cycle[0]}",
        "{secret}",
        "{}",
        "{0}",
        "{program!r}",
        "{cycle:>100000000}",
        "{program",
        "Program }",
    ],
)
def test_a_template_beyond_program_and_cycle_is_refused_on_save(template: str) -> None:
    with pytest.raises(ValidationError) as error:
        settings(note_template=template)
    assert "note_template" in str(error.value)
    assert "{program}" in str(error.value) or "not a valid template" in str(error.value)


def test_allowed_templates_render_by_substitution() -> None:
    s = settings(note_template="{cycle} / {{fixed}} / {program}")
    fmt = PheeCsvFormat.for_cycle(s, "Cash {x}", "C1")
    assert fmt.note == "C1 / {fixed} / Cash {x}"


def test_a_stored_bad_template_is_refused_at_render_too() -> None:
    with pytest.raises(ValueError, match=r"not \{program\.__doc__\}"):
        render_note("{program.__doc__}", "p", "c")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("=1+2+cmd|' /C calc'!A0", "'=1+2+cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'=1"),
        ("\r\n=1", "'=1"),
        (" =HYPERLINK(a,b)", "'=HYPERLINK(a b)"),
        ("Cycle 1", "Cycle 1"),
        ("a=b", "a=b"),
    ],
)
def test_a_cycle_name_cannot_start_a_formula(name: str, expected: str) -> None:
    fmt = PheeCsvFormat.for_cycle(settings(note_template="{cycle}"), "P", name)
    assert fmt.note == expected
    row = fmt.line(0, "r", "MSISDN", "254700000000", "100", "KES")
    cells = row.split(",")
    assert len(cells) == len(HEADER.split(","))
    assert cells[-1] == expected


def test_the_default_note_is_unchanged_and_safe_text_keeps_plain_text() -> None:
    fmt = PheeCsvFormat.for_cycle(settings(), "=Cash", "-May")
    assert fmt.note == "Program: =Cash. Cycle ID - -May"
    assert safe_text('a,"b"\nc') == "a b c"

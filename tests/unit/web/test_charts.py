"""The charts drawn on the server: sizes proportional to the numbers, the numbers beside each
picture, every text escaped, nothing the pages' CSP forbids, an empty state for no data."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from markupsafe import Markup

from g2p_payment_phee.web.charts import WIDTH, Part, columns, ranked_bars, stacked_bar

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert("x")</script> & "quoted"'


def _svg(markup: str) -> ElementTree.Element:
    """The chart's SVG, parsed: it must be well-formed XML."""
    found = re.search(r"<svg xmlns=.*?</svg>", markup, re.S)
    assert found, "no chart SVG"
    return ElementTree.fromstring(found.group(0))  # noqa: S314 (markup the test just drew)


def _widths(svg: ElementTree.Element) -> dict[str, float]:
    return {
        str(rect.get("class")): float(rect.get("width", "0"))
        for rect in svg.iter(f"{SVG}rect")
        if rect.get("class")
    }


def _parts(**counts: int) -> list[Part]:
    return [Part(key, key.replace("_", " "), n, f"{n:,}") for key, n in counts.items()]


def test_stacked_bar_parts_are_as_wide_as_their_share_and_fill_the_bar() -> None:
    chart = stacked_bar("c", "Cycle", _parts(paid=60, failed=30, pending=10), empty="none")
    widths = _widths(_svg(chart))
    assert widths == {"part-paid": 360.0, "part-failed": 180.0, "part-pending": 60.0}
    assert sum(widths.values()) == WIDTH


def test_stacked_bar_lists_each_number_with_its_share_and_leaves_zeros_out() -> None:
    chart = stacked_bar("c", "Cycle", _parts(paid=3, failed=1, not_payable=0), empty="none")
    assert "paid: <strong>3</strong> (75%)" in chart
    assert "failed: <strong>1</strong> (25%)" in chart
    assert "not payable" not in chart
    assert "part-not_payable" not in chart


def test_a_tiny_share_reads_under_one_percent() -> None:
    chart = stacked_bar("c", "Cycle", _parts(paid=999, failed=1), empty="none")
    assert "failed: <strong>1</strong> (under 1 %)" in chart


def test_every_chart_is_an_image_named_by_its_title_and_described() -> None:
    chart = stacked_bar("cycle-0", "Outcomes of C1", _parts(paid=1), empty="none")
    svg = _svg(chart)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "cycle-0-title cycle-0-desc"
    title = svg.find(f"{SVG}title")
    desc = svg.find(f"{SVG}desc")
    assert title is not None
    assert title.get("id") == "cycle-0-title"
    assert title.text == "Outcomes of C1"
    assert desc is not None
    assert desc.text == "paid: 1"


def test_patterns_tell_parts_apart_without_colour_and_are_defined_in_the_chart() -> None:
    svg = _svg(stacked_bar("c", "t", _parts(paid=1, failed=1, not_payable=1), empty="none"))
    fills = {rect.get("class"): rect.get("fill") for rect in svg.iter(f"{SVG}rect")}
    assert fills["part-failed"] == "url(#c-failed)"
    assert fills["part-not_payable"] == "url(#c-not_payable)"
    defined = {p.get("id") for p in svg.iter(f"{SVG}pattern")}
    assert defined == {"c-failed", "c-not_payable"}


DRAWINGS: list[Callable[[list[Part]], Markup]] = [
    lambda parts: stacked_bar("c", HOSTILE, parts, empty="none"),
    lambda parts: ranked_bars("c", HOSTILE, parts, empty="none"),
    lambda parts: columns("c", HOSTILE, parts, total=HOSTILE, empty="none"),
]


@pytest.mark.parametrize("draw", DRAWINGS)
def test_every_text_is_escaped_and_no_inline_style_is_used(
    draw: Callable[[list[Part]], Markup],
) -> None:
    markup = str(draw([Part("paid", HOSTILE, 2, HOSTILE)]))
    assert "<script>" not in markup
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quoted&#34;" in markup
    assert "style=" not in markup  # the pages' CSP refuses inline styles
    _svg(markup)  # still well-formed


def test_ranked_bars_are_as_long_as_their_count_against_the_largest() -> None:
    parts = [Part("reason", "Account closed", 10, "10"), Part("reason", "No wallet", 5, "5")]
    svg = _svg(ranked_bars("r", "Reasons", parts, empty="none"))
    widths = [float(r.get("width", "0")) for r in svg.iter(f"{SVG}rect") if r.get("class")]
    assert widths == [WIDTH - 80, (WIDTH - 80) / 2]
    chart = ranked_bars("r", "Reasons", parts, empty="none")
    assert "<li><bdi>Account closed</bdi>: <strong>10</strong></li>" in chart


def test_a_long_reason_is_cut_in_the_picture_and_whole_in_the_list() -> None:
    reason = "The payee's wallet provider answered that " + "x" * 80
    chart = ranked_bars("r", "Reasons", [Part("reason", reason, 1, "1")], empty="none")
    texts = [t.text or "" for t in _svg(chart).iter(f"{SVG}text")]
    assert texts[0].endswith("…")
    assert len(texts[0]) == 60
    assert f"<bdi>{reason.replace(chr(39), '&#39;')}</bdi>" in chart


def test_columns_are_as_tall_as_their_amount_and_the_table_lists_days_with_money() -> None:
    parts = [
        Part("money", "2027-01-01", Decimal("0"), "0.00 KES"),
        Part("money", "2027-01-02", Decimal("700"), "700.00 KES"),
        Part("money", "2027-01-03", Decimal("1400"), "1,400.00 KES"),
    ]
    chart = columns("m", "Paid per day", parts, total="2,100.00 KES", empty="none")
    heights = [float(r.get("height", "0")) for r in _svg(chart).iter(f"{SVG}rect")]
    assert heights == [70.0, 140.0]  # the zero day draws nothing
    assert '<td>2027-01-02</td><td class="num">700.00 KES</td>' in chart
    assert "2027-01-01</td>" not in chart
    assert '<th>Total</th><th class="num">2,100.00 KES</th>' in chart
    assert "highest: 1,400.00 KES" in chart


@pytest.mark.parametrize(
    "chart",
    [
        stacked_bar("c", "t", _parts(paid=0, failed=0), empty="Nothing to draw yet."),
        stacked_bar("c", "t", [], empty="Nothing to draw yet."),
        ranked_bars("c", "t", [], empty="Nothing to draw yet."),
        columns(
            "c", "t", [Part("money", "d", Decimal(0), "0")], total="0", empty="Nothing to draw yet."
        ),
        columns("c", "t", [], total="0", empty="Nothing to draw yet."),
    ],
)
def test_no_data_gives_the_empty_message_and_no_picture(chart: str) -> None:
    assert chart == '<p class="muted chart-empty">Nothing to draw yet.</p>'


def test_a_chart_id_that_is_not_a_plain_name_is_refused() -> None:
    with pytest.raises(ValueError, match="not a chart id"):
        stacked_bar('x" onload="alert(1)', "t", _parts(paid=1), empty="none")

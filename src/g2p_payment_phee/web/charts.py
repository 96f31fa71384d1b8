"""Charts drawn on the server as inline SVG: pure functions from numbers to markup.

The pages' Content-Security-Policy allows no inline script and no inline style, so a chart is
only SVG elements and presentation attributes (``width``, ``fill``…), never ``style=``.
Every chart is a ``<figure>`` holding an ``<svg role="img">`` named by its ``<title>`` and
described by its ``<desc>``, and beside it the same numbers as a visible list or table, for
screen readers and for anyone who wants the figures. Colours come from the Okabe–Ito palette,
which colour-blind readers tell apart, and every part but the first also carries a pattern, so
the parts differ without colour too. Markup is only built with ``Markup.format``, which escapes
every text it is given: callers pass plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from babel.numbers import format_percent
from markupsafe import Markup

from g2p_payment_phee.i18n import _, babel_locale, ngettext

WIDTH = 600  # the viewBox's width; the SVG scales to its container
BAR_HEIGHT = 28
LABEL_CHARS = 60  # a reason longer than this is cut in the picture (whole in the list)
_ID = re.compile(r"[a-z][a-z0-9-]{0,60}")


@dataclass(frozen=True)
class Look:
    """How a part is drawn: a fill colour and a pattern over it (``None``: plain)."""

    colour: str
    pattern: str | None = None


# Okabe–Ito colours; the patterns keep the parts apart in grey scale too.
LOOKS = {
    "paid": Look("#009E73"),
    "failed": Look("#D55E00", "hatch"),
    "pending": Look("#E69F00", "dots"),
    "not_sent": Look("#56B4E9", "lines"),
    "not_payable": Look("#CC79A7", "cross"),
    "cancelled": Look("#999999", "hatch-back"),
    "reason": Look("#D55E00", "hatch"),
    "money": Look("#0072B2"),
}
_PATTERNS = {  # constant markup drawn over a pattern's colour
    "hatch": Markup('<path d="M0,8 L8,0" stroke="#fff" stroke-width="2"/>'),
    "hatch-back": Markup('<path d="M0,0 L8,8" stroke="#fff" stroke-width="2"/>'),
    "dots": Markup('<circle cx="4" cy="4" r="1.6" fill="#fff"/>'),
    "lines": Markup('<path d="M0,4 L8,4" stroke="#fff" stroke-width="1.5"/>'),
    "cross": Markup('<path d="M0,8 L8,0 M0,0 L8,8" stroke="#fff" stroke-width="1.2"/>'),
}


@dataclass(frozen=True)
class Part:
    """One quantity of a chart: ``key`` picks its look (a key of ``LOOKS``), ``value`` its
    size, ``text`` how the value reads (a count, or an amount with its currency)."""

    key: str
    label: str
    value: int | Decimal
    text: str


def stacked_bar(chart_id: str, title: str, parts: Sequence[Part], *, empty: str) -> Markup:
    """One bar split into ``parts``, each as wide as its share of their total, with the
    parts listed beside it (count and share); ``empty`` when they add up to nothing."""
    total = sum((Decimal(p.value) for p in parts), Decimal(0))
    shown = [p for p in parts if p.value > 0]
    if total <= 0:
        return _empty(empty)
    x = Decimal(0)
    shapes = []
    for part in shown:
        width = Decimal(WIDTH) * Decimal(part.value) / total
        shapes.append(_rect(chart_id, part, x, Decimal(0), width, Decimal(BAR_HEIGHT)))
        x += width
    summary = "; ".join(f"{p.label}: {p.text}" for p in shown)
    svg = _svg(chart_id, title, summary, BAR_HEIGHT, shown, Markup("").join(shapes))
    items = Markup("").join(
        Markup("<li>{}{}: <strong>{}</strong> ({})</li>").format(
            _swatch(chart_id, p.key), p.label, p.text, _share(Decimal(p.value), total)
        )
        for p in shown
    )
    return Markup('<figure class="chart">{}<ul class="chart-figures">{}</ul></figure>').format(
        svg, items
    )


def ranked_bars(chart_id: str, title: str, parts: Sequence[Part], *, empty: str) -> Markup:
    """One bar per part, in the order given (largest first), each as long as its value
    against the largest, its label above it; the parts listed beside in the same order."""
    if not parts or max(p.value for p in parts) <= 0:
        return _empty(empty)
    top = max(Decimal(p.value) for p in parts)
    row = BAR_HEIGHT + 18
    shapes = []
    for i, part in enumerate(parts):
        y = Decimal(i * row)
        width = (Decimal(WIDTH) - 80) * Decimal(part.value) / top
        shapes.append(_text(_cut(part.label), Decimal(0), y + 12))
        shapes.append(_rect(chart_id, part, Decimal(0), y + 16, width, Decimal(BAR_HEIGHT - 8)))
        shapes.append(_text(part.text, width + 6, y + 30))
    summary = "; ".join(f"{p.label}: {p.text}" for p in parts)
    svg = _svg(chart_id, title, summary, len(parts) * row, parts, Markup("").join(shapes))
    items = Markup("").join(
        Markup("<li><bdi>{}</bdi>: <strong>{}</strong></li>").format(p.label, p.text) for p in parts
    )
    return Markup('<figure class="chart">{}<ol class="chart-figures">{}</ol></figure>').format(
        svg, items
    )


def columns(chart_id: str, title: str, parts: Sequence[Part], *, total: str, empty: str) -> Markup:
    """One column per part (a day, oldest first), each as tall as its value against the
    largest; the first and last labels under the axis, the largest value above. Beside it a
    table of the parts that are not zero, and ``total``."""
    height = 160
    top = max((Decimal(p.value) for p in parts), default=Decimal(0))
    if top <= 0:
        return _empty(empty)
    step = Decimal(WIDTH) / len(parts)
    shapes = [
        Markup('<line x1="0" y1="{0}" x2="{1}" y2="{0}" stroke="#5b6573"/>').format(height, WIDTH)
    ]
    for i, part in enumerate(parts):
        tall = Decimal(height - 20) * Decimal(part.value) / top
        if tall > 0:
            tip = f"{part.label}: {part.text}"
            shapes.append(_rect(chart_id, part, step * i + 1, height - tall, step - 2, tall, tip))
    biggest = max(parts, key=lambda p: Decimal(p.value))
    shapes.append(_text(_("highest: {value}").format(value=biggest.text), Decimal(0), Decimal(12)))
    shapes.append(_text(parts[0].label, Decimal(0), Decimal(height + 16), muted=True))
    shapes.append(
        _text(parts[-1].label, Decimal(WIDTH), Decimal(height + 16), anchor="end", muted=True)
    )
    summary = ngettext(
        "{count} day from {first} to {last}; total {total}",
        "{count} days from {first} to {last}; total {total}",
        len(parts),
    ).format(count=len(parts), first=parts[0].label, last=parts[-1].label, total=total)
    svg = _svg(chart_id, title, summary, height + 22, parts[:1], Markup("").join(shapes))
    rows = Markup("").join(
        Markup('<tr><td>{}</td><td class="num">{}</td></tr>').format(p.label, p.text)
        for p in parts
        if p.value > 0
    )
    return Markup(
        '<figure class="chart">{}<table class="chart-figures"><tr><th>{}</th>'
        '<th class="num">{}</th></tr>{}<tr><th>{}</th><th class="num">{}</th></tr>'
        "</table></figure>"
    ).format(svg, _("Day"), _("Paid"), rows, _("Total"), total)


def _svg(
    chart_id: str, title: str, summary: str, height: int, parts: Sequence[Part], body: Markup
) -> Markup:
    if not _ID.fullmatch(chart_id):
        raise ValueError(f"not a chart id: {chart_id!r}")  # a programming error, not a rule
    return Markup(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        'role="img" aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMinYMin meet" '
        'id="{id}"><title id="{id}-title">{title}</title><desc id="{id}-desc">{summary}</desc>'
        "<defs>{defs}</defs>{body}</svg>"
    ).format(
        width=WIDTH,
        height=height,
        id=chart_id,
        title=title,
        summary=summary,
        defs=_defs(chart_id, parts),
        body=body,
    )


def _defs(chart_id: str, parts: Sequence[Part]) -> Markup:
    patterns = []
    for key in dict.fromkeys(p.key for p in parts):
        look = LOOKS[key]
        if look.pattern:
            patterns.append(
                Markup(
                    '<pattern id="{}-{}" patternUnits="userSpaceOnUse" width="8" height="8">'
                    '<rect width="8" height="8" fill="{}"/>{}</pattern>'
                ).format(chart_id, key, look.colour, _PATTERNS[look.pattern])
            )
    return Markup("").join(patterns)


def _fill(chart_id: str, key: str) -> str:
    look = LOOKS[key]
    return f"url(#{chart_id}-{key})" if look.pattern else look.colour


def _rect(
    chart_id: str,
    part: Part,
    x: Decimal,
    y: Decimal,
    w: Decimal,
    h: Decimal,
    tip: str | None = None,
) -> Markup:
    """A part's rectangle; ``tip`` becomes its tooltip (an SVG ``<title>``)."""
    start = Markup('<rect class="part-{}" x="{}" y="{}" width="{}" height="{}" fill="{}"').format(
        part.key, _n(x), _n(y), _n(w), _n(h), _fill(chart_id, part.key)
    )
    if tip is None:
        return start + Markup("/>")
    return start + Markup("><title>{}</title></rect>").format(tip)


def _text(
    text: str, x: Decimal, y: Decimal, *, anchor: str = "start", muted: bool = False
) -> Markup:
    return Markup('<text x="{}" y="{}" font-size="12" fill="{}" text-anchor="{}">{}</text>').format(
        _n(x), _n(y), "#5b6573" if muted else "#1d2430", anchor, text
    )


def _swatch(chart_id: str, key: str) -> Markup:
    """A legend square drawn like the part (the pattern defined in the chart's SVG)."""
    return Markup(
        '<svg class="swatch" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">'
        '<rect width="14" height="14" fill="{}"/></svg>'
    ).format(_fill(chart_id, key))


def _empty(message: str) -> Markup:
    return Markup('<p class="muted chart-empty">{}</p>').format(message)


def _share(value: Decimal, total: Decimal) -> str:
    share = value * 100 / total
    if 0 < share < 1:
        return _("under 1 %")
    return format_percent(share / 100, locale=babel_locale())


def _cut(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _n(value: Decimal) -> str:
    """A coordinate: two decimals at most, no trailing zeros."""
    return f"{value:.2f}".rstrip("0").rstrip(".")

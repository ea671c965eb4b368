"""Horizontal bar charts as inline SVG, for the annual report on screen and in the PDF.

Rendered on the server so the figures read without JavaScript, and built from presentation
attributes only (no style attribute or element, no script, no external reference) so they pass
the strict CSP. A suppressed count (below k) is drawn as a fixed-size hatched placeholder with
its "< k" text: the chart never receives the hidden figure, and no geometry depends on it.

For assistive technology the chart is one image, named by its <title> and described by a
<desc> that lists every figure, so the drawing adds nothing a screen reader would miss. There
is no width or height attribute: the viewBox keeps the aspect ratio and CSS sets the size.
Text widths are estimated (no font metrics on the server), generously, to keep texts inside.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Colours with at least 4.5:1 against white (WCAG AA for text, and so also for graphics).
CURRENT_COLOUR = "#0b5b4b"
PREVIOUS_COLOUR = "#505a5f"
TEXT_COLOUR = "#1b1b1b"

_PAD = 8
_LABEL_SIZE = 14
_LABEL_LINE = 18
_VALUE_SIZE = 13
_PREVIOUS_SIZE = 12
_BAR_HEIGHT = 20
_PREVIOUS_HEIGHT = 10
_BAR_GAP = 4
_ROW_GAP = 14
_TEXT_GAP = 6
_CHAR_EM = 0.6  # average glyph width of a sans-serif font, rounded up
_PLACEHOLDER_WIDTH = 24
_MIN_BAR = 2  # a count above zero stays visible however long the longest bar is
_MIN_WIDTH = 240
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Bar:
    """One row. `value` None means suppressed: `shown` (e.g. "< 3") is drawn in its place.

    The previous year follows the same rule; `previous` None with a `previous_shown` text is a
    suppressed previous figure, and both empty means the row has no previous year at all.
    """

    label: str
    value: int | None
    shown: str
    previous: int | None = None
    previous_shown: str = ""

    @property
    def has_previous(self) -> bool:
        return self.previous is not None or self.previous_shown != ""


def bar_chart(
    *,
    title: str,
    bars: Sequence[Bar],
    previous_label: str = "",
    current_label: str = "",
    width: int = 640,
    chart_id: str | None = None,
) -> Markup:
    """Render `bars` as an accessible SVG bar chart.

    `previous_label` (e.g. "2023") names the thinner previous-year bars in the legend and the
    description, so it is required as soon as one bar has a previous figure. `chart_id` must
    be unique on the page; without it the id derives from the title and the bars' texts.
    """
    _check(bars, previous_label, width, chart_id)
    base = chart_id or _derived_id(title, bars)
    with_previous = any(bar.has_previous for bar in bars)
    scale = _Scale.for_bars(bars, width)
    body: list[str] = []
    y = _PAD
    if with_previous:
        legend, y = _legend(current_label, previous_label, width, y)
        body.extend(legend)
    for bar in bars:
        lines = textwrap.wrap(bar.label, _chars_per_line(width), break_long_words=True) or [""]
        for line in lines:
            y += _LABEL_LINE
            body.append(_text(_PAD, y - 4, _LABEL_SIZE, line))
        y += 2
        body.extend(scale.bar(y, _BAR_HEIGHT, bar.value, bar.shown, CURRENT_COLOUR, _VALUE_SIZE))
        y += _BAR_HEIGHT
        if bar.has_previous:
            y += _BAR_GAP
            shown = bar.previous_shown or str(bar.previous)
            body.extend(
                scale.bar(y, _PREVIOUS_HEIGHT, bar.previous, shown, PREVIOUS_COLOUR, _PREVIOUS_SIZE)
            )
            y += _PREVIOUS_HEIGHT
        y += _ROW_GAP
    height = y - _ROW_GAP + _PAD
    desc = "; ".join(_described(bar, previous_label) for bar in bars)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{base}-title" aria-describedby="{base}-desc" class="chart" '
        f'font-family="sans-serif" fill="{TEXT_COLOUR}">'
    )
    svg = "\n".join(
        [
            head,
            f'<title id="{base}-title">{escape(title)}</title>',
            f'<desc id="{base}-desc">{escape(desc)}</desc>',
            *body,
            "</svg>",
        ]
    )
    return Markup(svg)  # noqa: S704 (every text above went through escape())


def _check(bars: Sequence[Bar], previous_label: str, width: int, chart_id: str | None) -> None:
    if width < _MIN_WIDTH:
        raise ValueError(f"a chart needs a width of at least {_MIN_WIDTH}")
    if chart_id is not None and not _ID.match(chart_id):
        raise ValueError("chart_id must be a letter followed by letters, digits, - or _")
    for bar in bars:
        if any(value is not None and value < 0 for value in (bar.value, bar.previous)):
            raise ValueError("bar values are counts and cannot be negative")
        if bar.value is None and not bar.shown:
            raise ValueError("a suppressed bar needs the text shown in its place")
        if bar.has_previous and not previous_label:
            raise ValueError("previous-year bars need a previous_label for the legend")


def _derived_id(title: str, bars: Sequence[Bar]) -> str:
    texts = [title, *(f"{bar.label}\x1f{bar.shown}\x1f{bar.previous_shown}" for bar in bars)]
    return "chart-" + hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:10]


def _described(bar: Bar, previous_label: str) -> str:
    text = f"{bar.label}: {bar.shown or bar.value}"
    if bar.has_previous:
        text += f" ({previous_label}: {bar.previous_shown or bar.previous})"
    return text


def _chars_per_line(width: int) -> int:
    return max(10, int((width - 2 * _PAD) / (_LABEL_SIZE * _CHAR_EM)))


def _text_width(text: str, size: int) -> float:
    return len(text) * size * _CHAR_EM


def _num(value: float) -> str:
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}"


def _text(x: float, baseline: float, size: int, text: str) -> str:
    return f'<text x="{_num(x)}" y="{_num(baseline)}" font-size="{size}">{escape(text)}</text>'


def _rect(x: float, y: float, width: float, height: float, colour: str) -> str:
    return (
        f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(width)}" height="{_num(height)}" '
        f'fill="{colour}"/>'
    )


def _placeholder(y: float, height: int) -> Iterator[str]:
    """A dashed outline with diagonal hatching, the same for every suppressed figure."""
    yield (
        f'<rect x="{_PAD + 0.5}" y="{_num(y + 0.5)}" width="{_PLACEHOLDER_WIDTH - 1}" '
        f'height="{height - 1}" fill="none" stroke="{PREVIOUS_COLOUR}" '
        f'stroke-dasharray="3 2" class="chart-suppressed"/>'
    )
    bottom = y + height
    for start in range(-height, _PLACEHOLDER_WIDTH, 6):
        left, right = max(start, 0), min(start + height, _PLACEHOLDER_WIDTH)
        yield (
            f'<line x1="{_PAD + left}" y1="{_num(bottom - (left - start))}" x2="{_PAD + right}" '
            f'y2="{_num(bottom - (right - start))}" stroke="{PREVIOUS_COLOUR}"/>'
        )


def _legend(current: str, previous: str, width: int, top: int) -> tuple[list[str], int]:
    """Swatches in the bars' own thicknesses, wrapped onto a new line when they run out."""
    parts: list[str] = []
    x, y = float(_PAD), top
    for label, colour, thickness in (
        (current, CURRENT_COLOUR, 14),
        (previous, PREVIOUS_COLOUR, 7),
    ):
        if not label:
            continue
        entry = 14 + _TEXT_GAP + _text_width(label, _VALUE_SIZE)
        if x > _PAD and x + entry > width - _PAD:
            x, y = float(_PAD), y + _LABEL_LINE + 2
        parts.append(_rect(x, y + 16 - thickness, 14, thickness, colour))
        parts.append(_text(x + 14 + _TEXT_GAP, y + 14, _VALUE_SIZE, label))
        x += entry + 16
    return parts, y + _LABEL_LINE + 10


@dataclass(frozen=True, slots=True)
class _Scale:
    """Maps visible counts to lengths: the largest visible count (either year) fills `room`."""

    largest: int
    room: float

    @classmethod
    def for_bars(cls, bars: Sequence[Bar], width: int) -> _Scale:
        visible = [v for bar in bars for v in (bar.value, bar.previous) if v is not None]
        texts = [bar.shown or str(bar.value) for bar in bars] + [
            bar.previous_shown or str(bar.previous) for bar in bars if bar.has_previous
        ]
        reserve = _TEXT_GAP + max((_text_width(t, _VALUE_SIZE) for t in texts), default=0.0)
        room = width - 2 * _PAD - min(reserve, width * 0.4)
        return cls(largest=max(visible, default=0), room=room)

    def bar(
        self, y: float, height: int, value: int | None, shown: str, colour: str, size: int
    ) -> Iterator[str]:
        baseline = y + height / 2 + size * 0.35
        if value is None:
            yield from _placeholder(y, height)
            yield _text(_PAD + _PLACEHOLDER_WIDTH + _TEXT_GAP, baseline, size, shown)
            return
        end = float(_PAD)
        if value > 0 and self.largest > 0:
            length = max(_MIN_BAR, value / self.largest * self.room)
            yield _rect(_PAD, y, length, height, colour)
            end += length + _TEXT_GAP
        yield _text(end, baseline, size, shown or str(value))

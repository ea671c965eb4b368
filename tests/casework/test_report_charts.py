"""The annual report's charts: drawn from published figures only, one per chartable table."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from casework.annual_model import Figure, Hours, PublishedFigures, Row, Table, TableKey
from casework.report_charts import report_charts, table_chart
from casework.report_labels import Labels
from klankbord.charts import CURRENT_COLOUR, PREVIOUS_COLOUR

SVG = "{http://www.w3.org/2000/svg}"
LABELS = Labels(lambda message, **v: message % v if v else message)


def _row(code: str, current: Figure, previous: Figure | None = None) -> Row:
    both = current.is_shown and previous is not None and previous.is_shown
    difference = (current.value or 0) - (previous.value or 0) if both and previous else None
    return Row(code, current, previous, difference)


def _table(key: TableKey, *rows: Row, withheld: bool = False) -> Table:
    return Table(key, rows, None, additive=False, withheld=withheld)


def _figures(*tables: Table) -> PublishedFigures:
    cases = _row("", Figure.shown(10))
    return PublishedFigures(2024, 3, cases, cases, Hours(1.0, None), tables)


def _rects(markup: str, colour: str) -> list[ET.Element]:
    return [r for r in ET.fromstring(markup).iter(f"{SVG}rect") if r.get("fill") == colour]


def _texts(markup: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(markup).iter(f"{SVG}text")]


def test_table_chart_suppressed_rows_become_placeholder_bars() -> None:
    table = _table(
        TableKey.PROCEDURE,
        _row("unwanted_behaviour", Figure.shown(12)),
        _row("integrity", Figure.small()),
        _row("rehabilitation", Figure.hidden()),
    )

    markup = str(table_chart(table, labels=LABELS, k=3, year=2024))

    placeholders = [
        r for r in ET.fromstring(markup).iter(f"{SVG}rect") if r.get("class") == "chart-suppressed"
    ]
    assert len(placeholders) == 2
    assert len(_rects(markup, CURRENT_COLOUR)) == 1  # only the shown count has a bar
    assert {"< 3", "•", "12", "Integrity violation", "Rehabilitation"} <= set(_texts(markup))


def test_table_chart_uses_the_reports_k_in_the_placeholder_text() -> None:
    table = _table(TableKey.CHANNEL, _row("phone", Figure.small()))

    markup = str(table_chart(table, labels=LABELS, k=5, year=2024))

    assert "< 5" in _texts(markup)


def test_table_chart_previous_year_bars_and_legend_when_table_has_previous_year() -> None:
    table = _table(
        TableKey.CATEGORY,
        _row("bullying", Figure.shown(8), Figure.shown(5)),
        _row("fraud", Figure.shown(4), Figure.small()),
    )

    markup = str(table_chart(table, labels=LABELS, k=3, year=2024))

    # one legend swatch, then one bar per shown previous figure
    assert len(_rects(markup, PREVIOUS_COLOUR)) == 2
    assert {"2024", "2023", "5", "< 3"} <= set(_texts(markup))
    assert ET.fromstring(markup).findtext(f"{SVG}title") == "Cases per category"


def test_table_chart_without_previous_year_draws_no_previous_bars() -> None:
    table = _table(
        TableKey.CHANNEL, _row("online", Figure.shown(7)), _row("phone", Figure.shown(3))
    )

    markup = str(table_chart(table, labels=LABELS, k=3, year=2024))

    assert _rects(markup, PREVIOUS_COLOUR) == []
    assert "2023" not in _texts(markup)
    assert len(_rects(markup, CURRENT_COLOUR)) == 2


def test_table_chart_labels_come_from_the_labels_language() -> None:
    shouting = Labels(lambda message, **v: (message % v if v else message).upper())
    table = _table(TableKey.OUTCOME, _row("referral", Figure.shown(4)))

    markup = str(table_chart(table, labels=shouting, k=3, year=2024))

    assert "REFERRAL" in _texts(markup)
    assert ET.fromstring(markup).findtext(f"{SVG}title") == "CASES PER ROUTE OR OUTCOME"


def test_table_chart_withheld_table_raises_value_error() -> None:
    table = _table(TableKey.ROLE, _row("employee", Figure.hidden()), withheld=True)

    with pytest.raises(ValueError, match="withheld"):
        table_chart(table, labels=LABELS, k=3, year=2024)


def test_report_charts_withheld_and_empty_tables_produce_no_chart() -> None:
    figures = _figures(
        _table(TableKey.PROCEDURE, _row("integrity", Figure.shown(4))),
        _table(TableKey.CATEGORY),
        _table(TableKey.ROLE, _row("employee", Figure.hidden()), withheld=True),
        _table(TableKey.CHANNEL, _row("online", Figure.small())),
    )

    charts = report_charts(figures, LABELS)

    assert [key for key, _ in charts] == [TableKey.PROCEDURE, TableKey.CHANNEL]
    ids = [ET.fromstring(str(markup)).get("aria-labelledby") for _, markup in charts]
    assert ids == ["chart-procedure-title", "chart-channel-title"]  # unique on one page

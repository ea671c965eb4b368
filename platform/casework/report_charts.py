"""The bar charts of an annual report, one per breakdown table, for the report page and the PDF.

A chart is drawn from the published figures only (`casework.annual_model`): a suppressed
figure has no value, so its bar can only be the placeholder with "< k" or "•" beside it, the
same text the table shows. The total row is left out: it is the sum of the bars, not one of
them. A withheld table gets no chart at all: every bar would be a placeholder, and a column of
placeholders says nothing the note under the table does not say better.
"""

from __future__ import annotations

from markupsafe import Markup

from casework.annual_model import PublishedFigures, Row, Table, TableKey
from casework.report_labels import Labels
from klankbord.charts import Bar, bar_chart


def table_chart(table: Table, *, labels: Labels, k: int, year: int) -> Markup:
    """The chart of one breakdown table of the report of `year`; `k` is the report's threshold.

    Previous-year bars (labelled with the previous year) appear when the table has a previous
    year. Raises ValueError for a withheld table, which must not be charted.
    """
    if table.withheld:
        raise ValueError("a withheld table has no chart")
    bars = [_bar(row, table.key, labels, k) for row in table.rows]
    with_previous = any(bar.has_previous for bar in bars)
    return bar_chart(
        title=labels.title(table.key),
        bars=bars,
        previous_label=str(year - 1) if with_previous else "",
        current_label=str(year) if with_previous else "",
        chart_id=f"chart-{table.key.value}",
    )


def report_charts(figures: PublishedFigures, labels: Labels) -> list[tuple[TableKey, Markup]]:
    """A chart for every table that has rows and is not withheld, in the tables' order."""
    return [
        (table.key, table_chart(table, labels=labels, k=figures.k, year=figures.year))
        for table in figures.tables
        if table.rows and not table.withheld
    ]


def _bar(row: Row, key: TableKey, labels: Labels, k: int) -> Bar:
    return Bar(
        label=labels.code(key, row.code),
        value=row.current.value,
        shown=labels.figure(row.current, k),
        previous=None if row.previous is None else row.previous.value,
        previous_shown=labels.figure(row.previous, k),
    )

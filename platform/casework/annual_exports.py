"""An annual report as CSV, in the language of the labels: one line per figure.

Columns: section, item, this year, previous year, difference. Suppressed figures read as on
the screen ("< k", "•"); the CSV is built from published figures only, so it cannot hold a
hidden count. Text cells go through the dashboard's `csv_safe` (no formula injection); the
file starts with a BOM so spreadsheets read it as UTF-8.
"""

from __future__ import annotations

import csv
import io

from casework.annual_model import PublishedFigures, ReportDocument, Row
from casework.report_labels import Labels
from tenants.dashboard import csv_safe


def _line(labels: Labels, k: int, section: str, item: str, row: Row) -> list[str]:
    return [
        csv_safe(section),
        csv_safe(item),
        labels.figure(row.current, k),
        labels.figure(row.previous, k),
        labels.difference(row.difference),
    ]


def _figure_lines(figures: PublishedFigures, labels: Labels) -> list[list[str]]:
    k = figures.k
    key_figures = labels.gettext("Key figures")
    lines = [
        [
            labels.gettext("Section"),
            labels.gettext("Item"),
            str(figures.year),
            str(figures.year - 1),
            labels.gettext("Difference"),
        ],
        _line(labels, k, key_figures, labels.gettext("Cases"), figures.cases),
        _line(labels, k, key_figures, labels.gettext("Contacts"), figures.contacts),
        [
            csv_safe(key_figures),
            csv_safe(labels.gettext("Hours spent")),
            f"{figures.hours.current:.1f}",
            "" if figures.hours.previous is None else f"{figures.hours.previous:.1f}",
            ""
            if figures.hours.previous is None
            else f"{figures.hours.current - figures.hours.previous:+.1f}",
        ],
    ]
    for table in figures.tables:
        title = labels.title(table.key)
        for row in table.rows:
            lines.append(_line(labels, k, title, labels.code(table.key, row.code), row))
        if table.total is not None:
            lines.append(_line(labels, k, title, labels.gettext("Total"), table.total))
        if table.withheld:
            lines.append([csv_safe(title), csv_safe(labels.withheld_note()), "", "", ""])
        elif not table.additive:
            lines.append([csv_safe(title), csv_safe(labels.multiple_note()), "", "", ""])
    lines.append([csv_safe(labels.small_legend(k)), "", "", "", ""])
    lines.append([csv_safe(labels.hidden_legend()), "", "", "", ""])
    return lines


def _encode(lines: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def figures_csv(figures: PublishedFigures, labels: Labels, *, heading: str) -> bytes:
    """Figures only, under a heading line (the bureau-wide report: the bureau's name)."""
    return _encode([[csv_safe(heading), "", "", "", ""], *_figure_lines(figures, labels)])


def report_csv(document: ReportDocument, labels: Labels) -> bytes:
    """The whole report: who and which year, the figures, then the counsellor's texts."""
    lines = [
        [
            csv_safe(labels.gettext("Organisation")),
            csv_safe(document.organisation_name),
            "",
            "",
            "",
        ],
        [csv_safe(labels.gettext("Bureau")), csv_safe(document.bureau_name), "", "", ""],
        [csv_safe(labels.gettext("Year")), str(document.year), "", "", ""],
        [
            csv_safe(labels.gettext("Status")),
            csv_safe(labels.report_status(document.status)),
            "",
            "",
            "",
        ],
        *_figure_lines(document.figures, labels),
    ]
    for title, text in (
        (labels.gettext("Trends and recommendations"), document.narrative),
        (labels.gettext("Preventive activities"), document.preventive),
    ):
        if text:
            lines.append([csv_safe(title), csv_safe(text), "", "", ""])
    return _encode(lines)

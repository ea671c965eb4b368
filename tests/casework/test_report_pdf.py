"""PDF exports, read back with pypdf: the annual report (figures, notes, legends, charts as
vectors, long and odd texts) and the register (many pages, header on each). Every test runs
with DejaVu Sans and with the core-font fallback a machine without DejaVu gets."""

from __future__ import annotations

import io
import re
import time
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from casework import report_pdf
from casework.annual_model import (
    Figure,
    Hours,
    PublishedFigures,
    ReportDocument,
    ReportStatus,
    Row,
    Table,
    TableKey,
)
from casework.register import RegisterRow
from casework.report_labels import Labels
from casework.report_pdf import annual_report_pdf, register_pdf
from klankbord.charts import CURRENT_COLOUR

LABELS = Labels(lambda message, **v: message % v if v else message)
S, SMALL, HIDDEN = Figure.shown, Figure.small(), Figure.hidden()
FAMILY_EMOJI = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # joined by zero-width joiners
ODD = (
    "Café, ëzel, garçon: € 12 \u2018quoted\u2019 “twice” — ok 👍🏽 "
    + FAMILY_EMOJI
    + " \x00\x07 ok\tend"
)


@pytest.fixture(params=["dejavu", "core"], autouse=True)
def font(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "core":
        monkeypatch.setattr(report_pdf, "FONT_DIR", Path("/nonexistent/fonts"))
    return str(request.param)


def _row(current: Figure, previous: Figure | None = None, code: str = "") -> Row:
    both = previous is not None and current.is_shown and previous.is_shown
    difference = (current.value or 0) - (previous.value or 0) if both and previous else None
    return Row(code, current, previous, difference)


def _figures(*, previous: bool = True, withheld_only: bool = False) -> PublishedFigures:
    def row(code: str, current: Figure, old: Figure) -> Row:
        return _row(current, old if previous else None, code)

    total = row("", S(15), S(12))
    role = Table(
        TableKey.ROLE,
        (row("employee", HIDDEN, HIDDEN), row("manager", HIDDEN, HIDDEN)),
        total,
        additive=True,
        withheld=True,
    )
    tables: tuple[Table, ...] = (
        Table(
            TableKey.PROCEDURE,
            (
                row("unwanted_behaviour", S(12), S(9)),
                row("integrity", SMALL, HIDDEN),
                row("rehabilitation", HIDDEN, SMALL),
            ),
            total,
            additive=True,
        ),
        Table(
            TableKey.CATEGORY,
            (row("bullying", S(9), S(7)), row("fraud", S(6), SMALL)),
            None,
            additive=False,
        ),
        Table(TableKey.OUTCOME, (row("referral", S(15), S(12)),), total, additive=True),
        role,
        Table(TableKey.CHANNEL, (row("phone", S(15), S(12)),), total, additive=True),
    )
    if withheld_only:
        tables = tuple(
            table if table.withheld else Table(table.key, (), None, table.additive)
            for table in tables
        )
    hours = Hours(123.5, 99.0 if previous else None)
    return PublishedFigures(2024, 3, total, row("", S(40), S(31)), hours, tables)


def _document(**changes: object) -> ReportDocument:
    fields: dict[str, object] = {
        "organisation_name": "Stichting Voorbeeld",
        "bureau_name": "Bureau Vertrouwd",
        "year": 2024,
        "status": ReportStatus.DRAFT,
        "figures": _figures(),
        "narrative": "Fewer reports of bullying than last year.",
        "preventive": "Two workshops on speaking up.",
        "finalised_on": None,
    }
    fields.update(changes)
    return ReportDocument(**fields)  # type: ignore[arg-type]


def _reader(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(pdf))


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def _fills(reader: PdfReader) -> list[tuple[float, float, float]]:
    """Every RGB fill colour set on any page (the `r g b rg` operator)."""
    data = b"".join(page.get_contents().get_data() for page in reader.pages)  # type: ignore[union-attr]
    found = re.findall(rb"([\d.]+) ([\d.]+) ([\d.]+) rg", data)
    return [(float(r), float(g), float(b)) for r, g, b in found]


def _has_chart_bars(reader: PdfReader) -> bool:
    wanted = tuple(int(CURRENT_COLOUR[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return any(
        all(abs(a - b) < 0.002 for a, b in zip(fill, wanted, strict=True))
        for fill in _fills(reader)
    )


def test_annual_report_pdf_draft_shows_headings_figures_notes_and_marker() -> None:
    reader = _reader(annual_report_pdf(_document(), LABELS, language="en"))

    text = _text(reader)
    for expected in (
        "Annual report 2024",
        "Stichting Voorbeeld",
        "Bureau Vertrouwd",
        "Draft",
        "Key figures",
        "Cases per procedure",
        "Cases per category",
        "Cases per reporter role",
        "Unwanted behaviour 12 9 +3",
        "Total 15 12 +3",
        "Hours spent 123.5 99.0 +24.5",
        "Contacts 40 31 +9",
        "Integrity violation < 3 •",
        LABELS.multiple_note(),
        LABELS.withheld_note(),
        LABELS.small_legend(3),
        LABELS.hidden_legend(),
        "Trends and recommendations",
        "Fewer reports of bullying than last year.",
        "Preventive activities",
        "Two workshops on speaking up.",
    ):
        assert expected in text, expected
    assert reader.pages[0].extract_text().count("Draft") == 1
    assert f"page 1 of {len(reader.pages)}" in reader.pages[0].extract_text()


def test_annual_report_pdf_review_status_marks_every_page() -> None:
    long = _document(status=ReportStatus.REVIEW, narrative="Words go on. " * 1500)

    reader = _reader(annual_report_pdf(long, LABELS, language="en"))

    assert len(reader.pages) >= 3
    assert all("For review" in page.extract_text() for page in reader.pages)


def test_annual_report_pdf_final_has_no_marker_and_shows_finalised_date() -> None:
    final = _document(status=ReportStatus.FINAL, finalised_on=date(2025, 2, 3))

    text = _text(_reader(annual_report_pdf(final, LABELS, language="en")))

    assert "Finalised on 03-02-2025" in text
    assert "Draft" not in text and "For review" not in text


def test_annual_report_pdf_hours_use_the_languages_decimal_comma() -> None:
    text = _text(_reader(annual_report_pdf(_document(), LABELS, language="nl")))

    assert "Hours spent 123,5 99,0 +24,5" in text


def test_annual_report_pdf_without_previous_year_has_no_previous_columns() -> None:
    document = _document(figures=_figures(previous=False))

    text = _text(_reader(annual_report_pdf(document, LABELS, language="en")))

    assert "Difference" not in text and "2023" not in text
    assert "Unwanted behaviour 12\n" in text + "\n"


def test_annual_report_pdf_charts_are_drawn_as_vectors() -> None:
    reader = _reader(annual_report_pdf(_document(), LABELS, language="en"))

    assert _has_chart_bars(reader)
    assert not reader.pages[0].images  # vectors, not pictures


def test_annual_report_pdf_withheld_table_shows_note_and_no_chart() -> None:
    document = _document(figures=_figures(withheld_only=True))

    reader = _reader(annual_report_pdf(document, LABELS, language="en"))

    text = _text(reader)
    assert LABELS.withheld_note() in text
    assert "Employee • •" in text
    assert "Nothing to show for this year." in text
    assert not _has_chart_bars(reader)


def test_annual_report_pdf_legend_left_out_when_nothing_is_suppressed() -> None:
    shown = _row(S(5), S(4), "phone")
    figures = PublishedFigures(
        2024,
        3,
        _row(S(5), S(4)),
        _row(S(8), S(8)),
        Hours(2.0, 1.0),
        (Table(TableKey.CHANNEL, (shown,), _row(S(5), S(4)), additive=True),),
    )

    text = _text(_reader(annual_report_pdf(_document(figures=figures), LABELS, language="en")))

    assert "How to read the figures" not in text
    assert LABELS.small_legend(3) not in text


def test_annual_report_pdf_long_narrative_wraps_onto_a_second_page() -> None:
    narrative = "\n\n".join(f"Paragraph {n}: " + "the counsellor writes. " * 40 for n in range(30))

    reader = _reader(annual_report_pdf(_document(narrative=narrative), LABELS, language="en"))

    pages = [page.extract_text() for page in reader.pages]
    start = next(n for n, page in enumerate(pages) if "Paragraph 0:" in page)
    assert any("Paragraph 29:" in page for page in pages[start + 1 :])
    assert "Two workshops on speaking up." in pages[-1]


def test_annual_report_pdf_odd_characters_and_emoji_do_not_crash(font: str) -> None:
    document = _document(
        organisation_name="Één & Co\u2019s “test” 👍🏽",
        narrative=ODD + " " + "x" * 600,
        preventive=ODD,
    )

    reader = _reader(annual_report_pdf(document, LABELS, language="fr"))

    text = _text(reader)
    assert "Café, ëzel, garçon: € 12 \u2018quoted\u2019 “twice” — ok" in text
    assert "\x00" not in text and "\x07" not in text
    assert "Één & Co\u2019s “test”" in text
    if font == "core":
        assert "👍" not in text


def test_annual_report_pdf_metadata_has_title_and_no_author() -> None:
    reader = _reader(annual_report_pdf(_document(), LABELS, language="en"))

    metadata = reader.metadata
    assert metadata is not None
    assert metadata.title == "Annual report 2024 · Stichting Voorbeeld"
    assert metadata.author is None
    assert metadata.creator == "Klankbord"


def _register_rows(count: int) -> list[RegisterRow]:
    return [
        RegisterRow(
            reference=f"KB-{number:05d}",
            received_on=date(2024, 1 + number % 12, 1 + number % 28),
            channel="phone" if number % 3 else "online",
            procedure="integrity",
            categories=("bullying", "fraud") if number % 2 else (),
            status="closed" if number % 2 else "in_progress",
            outcome="referral" if number % 2 else "",
            closed_on=date(2024, 12, 31) if number % 2 else None,
        )
        for number in range(count)
    ]


def test_register_pdf_lines_show_translated_codes_and_dates() -> None:
    pdf = register_pdf(
        organisation_name="Stichting Voorbeeld",
        rows=_register_rows(3),
        labels=LABELS,
        language="en",
        generated_on=date(2025, 1, 6),
    )

    text = _text(_reader(pdf))
    assert "Generated on 06-01-2025" in text
    assert "KB-00000 01-01-2024 Online report Integrity violation In progress" in text
    assert (
        "KB-00001 02-02-2024 Phone call Integrity violation Bullying, Fraud Closed Referral"
        " 31-12-2024" in text
    )


def test_register_pdf_many_rows_repeat_the_header_on_every_page() -> None:
    rows = _register_rows(2500)
    started = time.perf_counter()

    pdf = register_pdf(
        organisation_name="Stichting Voorbeeld",
        rows=rows,
        labels=LABELS,
        language="en",
        generated_on=date(2025, 1, 6),
    )

    assert time.perf_counter() - started < 20
    reader = _reader(pdf)
    assert len(reader.pages) > 40
    for page in (reader.pages[1], reader.pages[-1]):
        text = page.extract_text()
        assert "Register of cases · Stichting Voorbeeld" in text
        assert "Reference Received on Channel Procedure Categories Status Outcome Closed on" in text
        assert "Generated on 06-01-2025" in text
    assert f"page 2 of {len(reader.pages)}" in reader.pages[1].extract_text()
    assert "KB-02499" in _text(reader)
    assert reader.metadata is not None and reader.metadata.author is None


def test_register_pdf_without_cases_says_so() -> None:
    pdf = register_pdf(
        organisation_name="Stichting Leeg",
        rows=[],
        labels=LABELS,
        language="en",
        generated_on=date(2025, 1, 6),
    )

    reader = _reader(pdf)
    assert len(reader.pages) == 1
    assert "This organisation has no cases yet." in _text(reader)


def test_register_pdf_long_organisation_name_is_shortened_on_one_line() -> None:
    name = "Stichting " + "Zeer Lange Naam " * 30

    reader = _reader(
        register_pdf(
            organisation_name=name,
            rows=_register_rows(2),
            labels=LABELS,
            language="en",
            generated_on=date(2025, 1, 6),
        )
    )

    text = reader.pages[0].extract_text()
    assert "Register of cases · Stichting Zeer Lange Naam" in text
    assert name.strip() not in text
    assert text.count("…") == 2  # the running header and the footer
    assert "page 1 of 1" in text

"""PDF exports: the annual report (A4 portrait, with its charts) and the register (A4 landscape).

Both print only what their callers hand over: the report's published figures (a suppressed
count has no value, see `casework.annual_model`) and the register's codes and dates. The
charts are the report page's own SVG (`casework.report_charts`), drawn by fpdf2 as vectors, so
screen and paper cannot tell different stories.

Narratives are free text a counsellor typed, and names are whatever an organisation is called,
so every text is first made drawable: a character the font has no glyph for (an emoji, say)
becomes a replacement mark instead of an exception or an empty box. The font is DejaVu Sans
when it is installed, registered under the generic family name the charts ask for so their
texts use it too; without it, the core Helvetica in Windows-1252. Nothing is fetched or
written to disk, and the metadata carry a title and a language, never a person's name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Literal

from babel.numbers import format_decimal
from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from fpdf.fonts import TTFFont

from casework.annual_model import FigureState, ReportDocument, ReportStatus, Row, Table, TableKey
from casework.register import RegisterRow
from casework.report_charts import report_charts
from casework.report_labels import Labels

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FAMILY = "sans-serif"  # the charts' font-family: fpdf2 looks registered fonts up by it first
PAGES = "{nb}"  # fpdf2 puts the page count in its place when the document is closed
CHART_WIDTH = 150.0  # mm: a chart's texts print at about 9 pt
_INVISIBLE = {"Cc", "Cf", "Mn", "Me"}  # controls, joiners, selectors, combining marks
_VIEWBOX = re.compile(r'viewBox="0 0 (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)"')
_SPOKEN = re.compile(r"<(title|desc)\b[^>]*>[^<]*</\1>")

Align = Literal["L", "R"]


@dataclass(frozen=True, slots=True)
class _Column:
    width: float
    align: Align = "L"


class _Pdf(FPDF):
    """One export: fonts, text made drawable, running header and footer, wrapped table rows."""

    def __init__(self, *, landscape: bool, language: str, title: str, size: float) -> None:
        super().__init__(orientation="L" if landscape else "P", unit="mm", format="A4")
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        self.body_size = size
        self.line_height = size * 0.45
        self.unicode = (FONT_DIR / "DejaVuSans.ttf").is_file()
        if self.unicode:
            self.add_font(FAMILY, "", str(FONT_DIR / "DejaVuSans.ttf"))
            self.add_font(FAMILY, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
            fonts = (self.fonts[FAMILY], self.fonts[FAMILY + "B"])
            self.glyphs = set.intersection(*(set(f.cmap) for f in fonts if isinstance(f, TTFFont)))
            self.family = FAMILY
            self.replacement = "\ufffd" if 0xFFFD in self.glyphs else "?"
        else:
            self.core_fonts_encoding = "windows-1252"
            self.family = "helvetica"
            self.replacement = "?"
        self.set_lang(language)
        self.set_title(self.safe(title))
        self.set_creator("Klankbord")
        self.marker = ""
        self.footer_text = ""
        self.page_word: Callable[[int], str] = str
        self.running_header: Callable[[], None] | None = None

    def drawable(self, char: str) -> bool:
        if self.unicode:
            return ord(char) in self.glyphs
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            return False
        return True

    def safe(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
        kept: list[str] = []
        for char in text.replace("\t", "    "):
            category = unicodedata.category(char)
            if char == "\n" or (category != "Cc" and self.drawable(char)):
                kept.append(char)
            elif category not in _INVISIBLE:
                kept.append(self.replacement)
        return "".join(kept)

    def header(self) -> None:
        if self.marker:
            self.set_font(self.family, "B", 11)
            self.set_text_color(160, 40, 30)
            self.cell(0, 6, self.marker, align="R")
            self.set_text_color(0, 0, 0)
            self.ln(8)
        if self.running_header is not None:
            self.running_header()

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(self.family, "", 8)
        width = self.w - self.l_margin - self.r_margin
        self.cell(width * 0.7, 5, self.fit(self.footer_text, width * 0.7))
        self.cell(width * 0.3, 5, self.page_word(self.page_no()), align="R")

    def fit(self, text: str, width: float) -> str:
        """`text` shortened with an ellipsis to one line of `width` in the current font."""
        room = width - 2 * self.c_margin
        if self.get_string_width(text) <= room:
            return text
        while text and self.get_string_width(text + "…") > room:
            text = text[:-1]
        return text.rstrip() + "…"

    def heading(self, text: str, size: float, *, keep: float = 0) -> None:
        """`keep`: room (mm) the heading needs under it, so it does not end a page alone."""
        if keep and self.get_y() + keep > self.page_break_trigger:
            self.add_page()
        self.set_font(self.family, "B", size)
        self.multi_cell(0, size * 0.5, self.safe(text), align="L")
        self.ln(size * 0.15)

    def para(self, text: str, *, size: float | None = None) -> None:
        size = size or self.body_size
        self.set_font(self.family, "", size)
        self.multi_cell(0, size * 0.45, self.safe(text), align="L")
        self.ln(size * 0.25)

    def row(self, cells: Sequence[str], columns: Sequence[_Column], *, bold: bool = False) -> None:
        """One table row: texts wrap within their column, the row moves whole to a new page."""
        self.set_font(self.family, "B" if bold else "", self.body_size)
        wrapped = [
            self._lines(text, column.width) for text, column in zip(cells, columns, strict=True)
        ]
        height = max(len(lines) for lines in wrapped) * self.line_height + 1.6
        if self.get_y() + height > self.page_break_trigger:
            self.add_page()
            self.set_font(self.family, "B" if bold else "", self.body_size)
        x, top = self.l_margin, self.get_y()
        for lines, column in zip(wrapped, columns, strict=True):
            for number, line in enumerate(lines):
                self.set_xy(x, top + 0.8 + number * self.line_height)
                self.cell(column.width, self.line_height, line, align=column.align)
            x += column.width
        self.set_draw_color(190, 190, 190)
        self.line(self.l_margin, top + height, x, top + height)
        self.set_xy(self.l_margin, top + height)

    def _lines(self, text: str, width: float) -> list[str]:
        text = self.safe(text).replace("\n", " ")
        if self.get_string_width(text) <= width - 2 * self.c_margin:
            return [text]
        lines = self.multi_cell(
            width, self.line_height, text, dry_run=True, output=MethodReturnValue.LINES
        )
        return [str(line) for line in lines] if isinstance(lines, list) and lines else [text]

    def chart(self, svg: str, caption: str) -> None:
        """Draw a chart at the report's chart width, or smaller if it would not fit a page.
        A chart pushed onto a new page repeats its table's title above it as `caption`."""
        found = _VIEWBOX.search(svg)
        if found is None:
            raise ValueError("a chart needs a viewBox")
        ratio = float(found.group(2)) / float(found.group(1))
        width = min(CHART_WIDTH, (self.page_break_trigger - self.t_margin - 20) / ratio)
        if self.get_y() + width * ratio > self.page_break_trigger:
            self.add_page()
            self.heading(caption, 11)
        drawn = self.safe(_SPOKEN.sub("", svg))  # title and desc speak; on paper they are silent
        if not self.unicode:
            drawn = drawn.encode("cp1252").decode("latin-1")  # how fpdf2 feeds core fonts
        top = self.get_y()
        self.image(BytesIO(drawn.encode()), x=self.l_margin, y=top, w=width, h=width * ratio)
        self.set_y(top + width * ratio + 4)

    def to_bytes(self) -> bytes:
        return bytes(self.output())


def annual_report_pdf(document: ReportDocument, labels: Labels, *, language: str) -> bytes:
    """The annual report as an A4 PDF: key figures, one table and chart per breakdown, the
    counsellor's texts, and a marker on every page while the report is not final."""
    figures = document.figures
    title = labels.word("annual_report", year=document.year)
    pdf = _Pdf(
        landscape=False, language=language, title=f"{title} · {document.organisation_name}", size=10
    )
    if document.status is not ReportStatus.FINAL:
        pdf.marker = pdf.safe(labels.word(document.status.value))  # "draft" or "review"
    pdf.footer_text = pdf.safe(f"{title} · {document.organisation_name}")
    pdf.page_word = lambda page: pdf.safe(labels.word("page", page=page, pages=PAGES))
    pdf.add_page()
    pdf.heading(title, 20)
    pdf.heading(document.organisation_name, 14)
    pdf.para(labels.word("bureau", name=document.bureau_name))
    if document.finalised_on is not None:
        pdf.para(labels.word("finalised_on", date=_day(document.finalised_on)))
    pdf.ln(3)
    pdf.heading(labels.word("key_figures"), 14)
    previous = figures.cases.previous is not None or figures.hours.previous is not None
    columns = _columns(with_previous=previous)
    pdf.row(_header(labels, document.year, with_previous=previous), columns, bold=True)
    for key, row in (("cases", figures.cases), ("contacts", figures.contacts)):
        pdf.row(_cells(labels.word(key), row, labels, figures.k, previous), columns)
    pdf.row(_hours(labels, figures.hours.current, figures.hours.previous, language), columns)
    _legend(pdf, document, labels)
    charts = dict(report_charts(figures, labels))
    for table in figures.tables:
        _table(pdf, table, labels, year=document.year, k=figures.k)
        if table.key in charts:
            pdf.chart(str(charts[table.key]), labels.title(table.key))
    for key, text in (("narrative", document.narrative), ("preventive", document.preventive)):
        if text.strip():
            pdf.ln(4)
            pdf.heading(labels.word(key), 14, keep=30)
            pdf.para(text.strip())
    return pdf.to_bytes()


def register_pdf(
    *,
    organisation_name: str,
    rows: Sequence[RegisterRow],
    labels: Labels,
    language: str,
    generated_on: date,
) -> bytes:
    """The register as an A4 landscape PDF, one line per case; the organisation, the date and
    the column headings are repeated at the top of every page."""
    title = labels.word("register")
    pdf = _Pdf(landscape=True, language=language, title=f"{title} · {organisation_name}", size=8.5)
    keys = ("reference", "received_on", "channel", "procedure", "categories", "status")
    headings = [labels.word(key) for key in (*keys, "outcome", "closed_on")]
    widths = (32, 24, 28, 40, 64, 24, 43, 22)
    columns = [_Column(width) for width in widths]
    above = " · ".join(
        [
            labels.word("generated_on", date=_day(generated_on)),
            labels.word("cases_count", count=len(rows)),
        ]
    )

    def running_header() -> None:
        pdf.set_font(pdf.family, "B", 12)
        pdf.cell(0, 6, pdf.fit(pdf.safe(f"{title} · {organisation_name}"), pdf.epw))
        pdf.ln(6)
        pdf.set_font(pdf.family, "", 8.5)
        pdf.cell(0, 5, pdf.safe(above))
        pdf.ln(7)
        pdf.row(headings, columns, bold=True)

    pdf.running_header = running_header
    pdf.footer_text = pdf.safe(organisation_name)
    pdf.page_word = lambda page: pdf.safe(labels.word("page", page=page, pages=PAGES))
    pdf.add_page()
    if not rows:
        pdf.para(labels.word("no_cases"))
    for case in rows:
        cells = [
            case.reference,
            _day(case.received_on),
            labels.code(TableKey.CHANNEL, case.channel),
            labels.code(TableKey.PROCEDURE, case.procedure),
            ", ".join(labels.code(TableKey.CATEGORY, code) for code in case.categories),
            labels.status(case.status),
            labels.code(TableKey.OUTCOME, case.outcome) if case.outcome else "",
            _day(case.closed_on) if case.closed_on else "",
        ]
        pdf.row(cells, columns)
    return pdf.to_bytes()


def _day(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def _columns(*, with_previous: bool) -> list[_Column]:
    figures = [_Column(25, "R")] * (3 if with_previous else 1)
    return [_Column(105), *figures]


def _header(labels: Labels, year: int, *, with_previous: bool) -> list[str]:
    if not with_previous:
        return ["", str(year)]
    return ["", str(year), str(year - 1), labels.word("difference")]


def _cells(label: str, row: Row, labels: Labels, k: int, with_previous: bool) -> list[str]:
    if not with_previous:
        return [label, labels.figure(row.current, k)]
    return [
        label,
        labels.figure(row.current, k),
        labels.figure(row.previous, k),
        labels.difference(row.difference),
    ]


def _hours(labels: Labels, current: float, previous: float | None, language: str) -> list[str]:
    def number(value: float) -> str:
        return str(format_decimal(value, format="#,##0.0", locale=language))

    if previous is None:
        return [labels.word("hours"), number(current)]
    change = round(current - previous, 1)
    sign = "+" if change > 0 else "-" if change < 0 else ""
    return [labels.word("hours"), number(current), number(previous), sign + number(abs(change))]


def _legend(pdf: _Pdf, document: ReportDocument, labels: Labels) -> None:
    """Explain "< k" and "•" once, before the tables, when the report uses them."""
    figures = document.figures
    rows = [figures.cases, figures.contacts]
    for table in figures.tables:
        rows.extend(table.rows)
        rows.extend([table.total] if table.total else [])
    states = {f.state for row in rows for f in (row.current, row.previous) if f is not None}
    texts = [
        *([labels.small_legend(figures.k)] if FigureState.SMALL in states else []),
        *([labels.hidden_legend()] if FigureState.HIDDEN in states else []),
    ]
    if texts:
        pdf.ln(4)
        pdf.heading(labels.word("reading"), 12)
        for text in texts:
            pdf.para(text, size=9)


def _table(pdf: _Pdf, table: Table, labels: Labels, *, year: int, k: int) -> None:
    pdf.ln(5)
    lines = len(table.rows) + (3 if table.total else 2)  # heading row, total, note
    pdf.heading(labels.title(table.key), 13, keep=lines * (pdf.line_height + 1.6) + 8)
    if not table.rows:
        pdf.para(labels.word("nothing"))
        return
    every = [*table.rows, *([table.total] if table.total else [])]
    previous = any(row.previous is not None for row in every)
    columns = _columns(with_previous=previous)
    pdf.row(_header(labels, year, with_previous=previous), columns, bold=True)
    for row in table.rows:
        pdf.row(_cells(labels.code(table.key, row.code), row, labels, k, previous), columns)
    if table.total is not None:
        pdf.row(_cells(labels.word("total"), table.total, labels, k, previous), columns, bold=True)
    pdf.ln(2)
    if table.key is TableKey.CATEGORY:
        pdf.para(labels.multiple_note(), size=9)
    if table.withheld:
        pdf.para(labels.withheld_note(), size=9)

"""What an annual report publishes: figures after small-count suppression, as plain values.

These types are the one shape the report page, the CSV, the PDF and the frozen snapshot of a
final report share. They never hold a hidden count: a suppressed figure has `value` None and
only says why it is hidden, so no renderer can leak it by mistake.

- `Figure.state` SHOWN: `value` is published. SMALL: the count is below k and is shown as
  "< k". HIDDEN: the count is k or more but is withheld so that a small count elsewhere in
  the table cannot be worked out from the total (complementary suppression).
- A `Row` puts this year next to the previous year; `difference` is published only when both
  years are shown.
- A `Table` is one breakdown (per procedure, category, outcome, reporter role, channel).
  `additive` tables split the cases so their rows add up to `total`; in the category table a
  case may count in several rows (or none), so it has no total row. `withheld` means there
  are too few cases to break them down at all: every row is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

DEFAULT_K = 3
MIN_K = 2
MAX_K = 10


class FigureState(StrEnum):
    SHOWN = "shown"
    SMALL = "small"
    HIDDEN = "hidden"


class TableKey(StrEnum):
    PROCEDURE = "procedure"
    CATEGORY = "category"
    OUTCOME = "outcome"
    ROLE = "role"
    CHANNEL = "channel"
    SECTOR = "sector"  # the bureau-wide report only


@dataclass(frozen=True, slots=True)
class Figure:
    value: int | None
    state: FigureState

    @classmethod
    def shown(cls, value: int) -> Figure:
        return cls(value, FigureState.SHOWN)

    @classmethod
    def small(cls) -> Figure:
        return cls(None, FigureState.SMALL)

    @classmethod
    def hidden(cls) -> Figure:
        return cls(None, FigureState.HIDDEN)

    @property
    def is_shown(self) -> bool:
        return self.state is FigureState.SHOWN

    def to_json(self) -> list[Any]:
        return [self.value, self.state.value]

    @classmethod
    def from_json(cls, data: list[Any]) -> Figure:
        value, state = data
        figure = cls(None if value is None else int(value), FigureState(state))
        if (figure.value is None) == figure.is_shown:
            raise ValueError("a shown figure has a value and a suppressed one has none")
        return figure


@dataclass(frozen=True, slots=True)
class Row:
    code: str
    current: Figure
    previous: Figure | None  # None: there is no previous year to compare with
    difference: int | None  # current - previous, only when both are shown


@dataclass(frozen=True, slots=True)
class Table:
    key: TableKey
    rows: tuple[Row, ...]
    total: Row | None  # additive tables only
    additive: bool
    withheld: bool = False


@dataclass(frozen=True, slots=True)
class Hours:
    """Time spent on the organisation's cases in the year, in hours with one decimal: a sum
    of the counsellors' time entries, which tells nothing about a person, so not suppressed."""

    current: float
    previous: float | None


@dataclass(frozen=True, slots=True)
class PublishedFigures:
    year: int
    k: int
    cases: Row  # case files received in the year
    contacts: Row  # contact moments logged in the year (conversations, calls, letters)
    hours: Hours
    tables: tuple[Table, ...]

    def table(self, key: TableKey) -> Table:
        return next(table for table in self.tables if table.key is key)


class ReportStatus(StrEnum):
    DRAFT = "draft"  # figures live, narrative editable
    REVIEW = "review"  # submitted for the counsellors' review; still editable
    FINAL = "final"  # figures frozen; readable by the organisation contact


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """Everything an export of one annual report shows (the page adds its forms)."""

    organisation_name: str
    bureau_name: str
    year: int
    status: ReportStatus
    figures: PublishedFigures
    narrative: str  # the counsellor's trends and recommendations, plain text
    preventive: str  # preventive activities in the year, plain text
    finalised_on: date | None


def row_to_json(row: Row) -> dict[str, Any]:
    return {
        "code": row.code,
        "current": row.current.to_json(),
        "previous": None if row.previous is None else row.previous.to_json(),
        "difference": row.difference,
    }


def row_from_json(data: dict[str, Any]) -> Row:
    previous = data["previous"]
    return Row(
        code=str(data["code"]),
        current=Figure.from_json(data["current"]),
        previous=None if previous is None else Figure.from_json(previous),
        difference=None if data["difference"] is None else int(data["difference"]),
    )


def figures_to_json(figures: PublishedFigures) -> dict[str, Any]:
    """The frozen form of a final report (stored as JSON): only published values."""
    return {
        "year": figures.year,
        "k": figures.k,
        "cases": row_to_json(figures.cases),
        "contacts": row_to_json(figures.contacts),
        "hours": [figures.hours.current, figures.hours.previous],
        "tables": [
            {
                "key": table.key.value,
                "rows": [row_to_json(row) for row in table.rows],
                "total": None if table.total is None else row_to_json(table.total),
                "additive": table.additive,
                "withheld": table.withheld,
            }
            for table in figures.tables
        ],
    }


def figures_from_json(data: dict[str, Any]) -> PublishedFigures:
    hours_current, hours_previous = data["hours"]
    return PublishedFigures(
        year=int(data["year"]),
        k=int(data["k"]),
        cases=row_from_json(data["cases"]),
        contacts=row_from_json(data["contacts"]),
        hours=Hours(
            float(hours_current), None if hours_previous is None else float(hours_previous)
        ),
        tables=tuple(
            Table(
                key=TableKey(table["key"]),
                rows=tuple(row_from_json(row) for row in table["rows"]),
                total=None if table["total"] is None else row_from_json(table["total"]),
                additive=bool(table["additive"]),
                withheld=bool(table["withheld"]),
            )
            for table in data["tables"]
        ),
    )

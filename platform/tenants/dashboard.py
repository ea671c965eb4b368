"""The bureau admin's dashboard: every organisation of the bureau with its key figures.

One page costs a fixed number of queries, whatever the number of organisations: one COUNT,
one page SELECT (50 rows) whose per-organisation figures are correlated subqueries evaluated
for those 50 rows only, `case_counts` (one grouped query over the case table) and the
counsellor credential warnings (`tenants.counsellors.expiring_credentials`, two queries).

Why Piccolo with raw fragments: the page query is `Organisation.select(...)` passed through
`scoped()`, so the tenant filter (`organisation.bureau = <ctx bureau>`) is the usual one and
PostgreSQL row-level security applies on top (everything runs in `tenant_transaction`). The
figures are `QueryString` columns (correlated subqueries on membership and intake_link), and
the status is a SQL `CASE`, so it can be sorted and filtered in the database. Each subquery
also matches `bureau` to the outer organisation's bureau, so a membership or link row of
another bureau could never be counted even without RLS (SQLite); that check is written so
that no index serves it, and the subqueries look rows up by the organisation index. Sorting
by name uses `lower(name)`, which the unique index organisation (bureau, lower(name)) serves;
sorting by created date uses organisation (bureau, created_at). Every sort ends in
`lower(name)`, unique within a bureau, so the order is total.

The CSV export reads the same query in offset batches of `EXPORT_BATCH` rows inside one
tenant transaction. On SQLite the transaction's write lock keeps the rows still; on
PostgreSQL (READ COMMITTED) an organisation added or renamed during the export may shift a
batch boundary, which a report can live with. The chunks are encoded while reading and sent
after the transaction has closed: holding it (on SQLite: the process's one connection and
its lock) while a client reads slowly would stall every other request.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from piccolo.columns.combination import WhereRaw
from piccolo.query.methods.select import SelectRaw
from piccolo.querystring import QueryString

from klankbord import audit
from klankbord.errors import PermissionDenied
from klankbord.tenancy import TenantContext, require_transaction, scoped, tenant_transaction
from tenants.choices import Assignment, Country, MembershipRole, Sector
from tenants.counsellors import CredentialWarning, expiring_credentials
from tenants.tables import Organisation

PAGE_SIZE = 50
EXPORT_BATCH = 1000
NAME_FILTER_LIMIT = 200

# Status codes, in the order a status sort shows them (the lifecycle of an organisation).
STATUSES = ("onboarding", "live", "no_live_link", "inactive")
SORTS = ("name", "headcount", "status", "created", "counsellors")
ORDERS = ("asc", "desc")

# --- the SQL fragments (correlated on the outer "organisation" row) -----------------------
# Constants only (S608 is silenced for them): every value travels as a bind parameter.

_ORG = '"organisation"'
# The bureau check is written as a comparison of texts so that no index serves it: SQLite's
# planner would otherwise pick the bureau index (every row of the bureau) over the
# organisation index (a handful of rows).
_SAME_BUREAU = 'CAST("{table}"."bureau" AS TEXT) = CAST(' + _ORG + '."bureau" AS TEXT)'
_LIVE_LINK = (
    f'"intake_link"."organisation" = {_ORG}."id"'
    f" AND {_SAME_BUREAU.format(table='intake_link')}"
    ' AND "intake_link"."active" AND "intake_link"."retired_at" IS NULL'
)
_HAS_LIVE_LINK = f'EXISTS (SELECT 1 FROM "intake_link" WHERE {_LIVE_LINK})'  # noqa: S608
_COUNSELLOR = (
    f'"membership"."organisation" = {_ORG}."id"'
    f" AND {_SAME_BUREAU.format(table='membership')}"
    ' AND "membership"."role" = {}'
)
_STATUS_RANK = (
    f'CASE WHEN NOT {_ORG}."active" THEN 3 WHEN {_ORG}."onboarded_at" IS NULL THEN 0'
    f" WHEN {_HAS_LIVE_LINK} THEN 1 ELSE 2 END"
)
_NAME_KEY = f'lower({_ORG}."name")'


def _figures() -> list[QueryString]:
    counsellor = MembershipRole.COUNSELLOR.value
    return [
        QueryString(
            '(SELECT COUNT(DISTINCT "membership"."staff_user") FROM "membership"'  # noqa: S608
            f' WHERE {_COUNSELLOR}) AS "counsellors"',
            counsellor,
        ),
        QueryString(
            f'(SELECT COUNT(*) FROM "membership" WHERE {_COUNSELLOR}'  # noqa: S608
            ' AND "membership"."assignment" = {}) AS "primary_counsellors"',
            counsellor,
            Assignment.PRIMARY.value,
        ),
        QueryString(
            f'(SELECT COUNT(*) FROM "intake_link" WHERE {_LIVE_LINK}) AS "live_links"'  # noqa: S608
        ),
        QueryString(f'{_STATUS_RANK} AS "status_rank"'),
    ]


# --- what the page asks -------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardQuery:
    """Filters, sort and page, already validated: anything unknown fell back to the default."""

    name: str = ""
    country: str = ""
    sector: str = ""
    status: str = ""
    sort: str = "name"
    order: str = "asc"
    page: int = 1

    def parameters(self, **changes: Any) -> dict[str, str]:
        """The non-default GET parameters (for links that keep filters and sort)."""
        chosen = replace(self, **changes)
        defaults = DashboardQuery()
        values = {
            "name": chosen.name,
            "country": chosen.country,
            "sector": chosen.sector,
            "status": chosen.status,
            "sort": chosen.sort,
            "order": chosen.order,
            "page": str(chosen.page),
        }
        default_values = {
            "name": "",
            "country": "",
            "sector": "",
            "status": "",
            "sort": defaults.sort,
            "order": defaults.order,
            "page": "1",
        }
        return {key: value for key, value in values.items() if value != default_values[key]}

    @property
    def filtered(self) -> bool:
        return bool(self.name or self.country or self.sector or self.status)


def parse_query(params: Mapping[str, Any]) -> DashboardQuery:
    """GET parameters → a `DashboardQuery`; unknown values are ignored, never an error."""

    def text(key: str) -> str:
        value = params.get(key)
        return value.strip() if isinstance(value, str) else ""

    countries = {c.value for c in Country}
    sectors = {s.value for s in Sector}
    country, sector, status = text("country"), text("sector"), text("status")
    sort, order = text("sort"), text("order")
    try:
        page = int(text("page") or "1")
    except ValueError:
        page = 1
    return DashboardQuery(
        name=text("name")[:NAME_FILTER_LIMIT],
        country=country if country in countries else "",
        sector=sector if sector in sectors else "",
        status=status if status in STATUSES else "",
        sort=sort if sort in SORTS else "name",
        order=order if order in ORDERS else "asc",
        page=min(max(page, 1), 1_000_000),
    )


# --- what it shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseCounts:
    open: int = 0
    this_period: int = 0  # opened this calendar year, to date
    deadline_breaches: int = 0


@dataclass(frozen=True)
class DashboardRow:
    id: UUID
    name: str
    status: str
    country: str
    sector: str
    headcount: int
    counsellors: int
    primary_counsellor: bool
    live_links: int
    created_at: datetime
    cases: CaseCounts = field(default_factory=CaseCounts)


@dataclass(frozen=True)
class DashboardPage:
    query: DashboardQuery  # with the page clamped to what exists
    rows: list[DashboardRow]
    total: int
    pages: int
    warnings: list[CredentialWarning]


async def case_counts(ctx: TenantContext, organisation_ids: list[UUID]) -> dict[UUID, CaseCounts]:
    """Case figures per organisation, counts only, in ONE grouped query over the page's ids:
    open cases, cases received this calendar year, and acknowledgement deadlines passed
    (received, not acknowledged, older than the legal 7 days). Feedback deadlines join the
    breaches when casework records feedback.

    `casework.tables` is imported here: casework builds on tenants, not the other way round."""
    from casework.clocks import ACKNOWLEDGE_WITHIN
    from casework.tables import Case

    require_transaction(ctx)
    counts = {organisation_id: CaseCounts() for organisation_id in organisation_ids}
    if not organisation_ids:
        return counts
    now = datetime.now(UTC)
    year_start = datetime(now.year, 1, 1, tzinfo=UTC)
    rows = await (
        scoped(
            Case.select(
                Case.organisation,
                SelectRaw("SUM(CASE WHEN status <> 'closed' THEN 1 ELSE 0 END)", alias="open"),
                SelectRaw(
                    "SUM(CASE WHEN received_at >= {} THEN 1 ELSE 0 END)",
                    year_start,
                    alias="this_period",
                ),
                SelectRaw(
                    "SUM(CASE WHEN acknowledged_at IS NULL AND status = 'received'"
                    " AND received_at < {} THEN 1 ELSE 0 END)",
                    now - ACKNOWLEDGE_WITHIN,
                    alias="breaches",
                ),
            ),
            Case,
            ctx,
        )
        .where(Case.organisation.is_in(organisation_ids))
        .group_by(Case.organisation)
    )
    for row in rows:
        organisation_id = UUID(str(row["organisation"]))
        counts[organisation_id] = CaseCounts(
            open=int(row["open"] or 0),
            this_period=int(row["this_period"] or 0),
            deadline_breaches=int(row["breaches"] or 0),
        )
    return counts


def _require_bureau_admin(ctx: TenantContext) -> UUID:
    if not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    return ctx.bureau_id


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def _filters(query: DashboardQuery) -> list[Any]:
    """WHERE clauses for the filters (the tenant filter comes from `scoped()`)."""
    clauses: list[Any] = []
    if query.name:
        clauses.append(WhereRaw(f"{_NAME_KEY} LIKE {{}} ESCAPE '!'", _like_pattern(query.name)))
    if query.country:
        clauses.append(Organisation.country == query.country)
    if query.sector:
        clauses.append(Organisation.sector == query.sector)
    if query.status == "inactive":
        clauses.append(Organisation.active == False)  # noqa: E712 - SQL, not Python
    elif query.status:
        clauses.append(Organisation.active == True)  # noqa: E712 - SQL, not Python
        if query.status == "onboarding":
            clauses.append(Organisation.onboarded_at.is_null())
        else:
            clauses.append(Organisation.onboarded_at.is_not_null())
            live = _HAS_LIVE_LINK if query.status == "live" else f"NOT {_HAS_LIVE_LINK}"
            clauses.append(WhereRaw(live))
    return clauses


def _filtered(base: Any, ctx: TenantContext, query: DashboardQuery) -> Any:
    base = scoped(base, Organisation, ctx)
    for clause in _filters(query):
        base = base.where(clause)
    return base


def _ordered(select: Any, query: DashboardQuery) -> Any:
    ascending = query.order == "asc"
    primary: Any = {
        "name": QueryString(_NAME_KEY),
        "headcount": Organisation.headcount,
        "status": QueryString('"status_rank"'),
        "created": Organisation.created_at,
        "counsellors": QueryString('"counsellors"'),
    }[query.sort]
    select = select.order_by(primary, ascending=ascending)
    if query.sort != "name":
        select = select.order_by(QueryString(_NAME_KEY))
    # lower(name) is unique within a bureau (a unique index), so the order is total without
    # the id; and an ORDER BY of lower(name) alone can walk that index and stop after 50.
    return select


def _select(ctx: TenantContext, query: DashboardQuery) -> Any:
    columns = (
        Organisation.id,
        Organisation.name,
        Organisation.country,
        Organisation.sector,
        Organisation.headcount,
        Organisation.created_at,
        *_figures(),
    )
    return _ordered(_filtered(Organisation.select(*columns), ctx, query), query)


def _row(row: dict[str, Any]) -> DashboardRow:
    return DashboardRow(
        id=row["id"],
        name=row["name"],
        status=STATUSES[int(row["status_rank"])],
        country=row["country"],
        sector=row["sector"],
        headcount=int(row["headcount"]),
        counsellors=int(row["counsellors"]),
        primary_counsellor=int(row["primary_counsellors"]) > 0,
        live_links=int(row["live_links"]),
        created_at=row["created_at"],
    )


async def _rows(
    ctx: TenantContext, query: DashboardQuery, *, limit: int, offset: int
) -> list[DashboardRow]:
    require_transaction(ctx)
    raw = await _select(ctx, query).limit(limit).offset(offset)
    rows = [_row(r) for r in raw]
    counts = await case_counts(ctx, [row.id for row in rows])
    return [replace(row, cases=counts.get(row.id, CaseCounts())) for row in rows]


async def _count(ctx: TenantContext, query: DashboardQuery) -> int:
    require_transaction(ctx)
    return int(await _filtered(Organisation.count(), ctx, query))


async def organisation_page(
    ctx: TenantContext, query: DashboardQuery
) -> tuple[DashboardQuery, list[DashboardRow], int, int]:
    """The organisations part of the page: (query with the page clamped, rows, total, pages).
    Two queries (COUNT and the page), plus `case_counts`."""
    _require_bureau_admin(ctx)
    async with tenant_transaction(ctx):
        total = await _count(ctx, query)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        query = replace(query, page=min(query.page, pages))
        rows = await _rows(ctx, query, limit=PAGE_SIZE, offset=(query.page - 1) * PAGE_SIZE)
    return query, rows, total, pages


async def dashboard_page(
    ctx: TenantContext, query: DashboardQuery, *, today: date
) -> DashboardPage:
    """One page of the bureau's organisations, and the credential warnings."""
    _require_bureau_admin(ctx)
    async with tenant_transaction(ctx):
        query, rows, total, pages = await organisation_page(ctx, query)
        warnings = await expiring_credentials(ctx, today=today)
    return DashboardPage(query=query, rows=rows, total=total, pages=pages, warnings=warnings)


# --- CSV ----------------------------------------------------------------------------------

CSV_HEADER = (
    "organisation",
    "status",
    "country",
    "sector",
    "headcount",
    "counsellors",
    "primary_counsellor",
    "live_intake_links",
    "open_cases",
    "cases_this_year",
    "deadline_breaches",
    "created_on",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP: CSV injection)."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _csv_line(row: DashboardRow) -> list[str]:
    return [
        csv_safe(row.name),
        row.status,
        csv_safe(row.country),
        csv_safe(row.sector),
        str(row.headcount),
        str(row.counsellors),
        "yes" if row.primary_counsellor else "no",
        str(row.live_links),
        str(row.cases.open),
        str(row.cases.this_period),
        str(row.cases.deadline_breaches),
        row.created_at.date().isoformat(),
    ]


def _encode(lines: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return buffer.getvalue().encode("utf-8")


async def export_csv(ctx: TenantContext, query: DashboardQuery) -> list[bytes]:
    """Every organisation matching the filters, in the chosen order, as UTF-8 CSV chunks
    (a header, then one chunk per batch of `EXPORT_BATCH`). Organisation names and counts
    only: no names of people. Audited as `dashboard.exported`."""
    bureau_id = _require_bureau_admin(ctx)
    chunks = [b"\xef\xbb\xbf" + _encode([list(CSV_HEADER)])]  # BOM: spreadsheets read UTF-8
    exported = 0
    async with tenant_transaction(ctx):
        while True:
            batch = await _rows(ctx, query, limit=EXPORT_BATCH, offset=exported)
            if batch:
                chunks.append(_encode([_csv_line(row) for row in batch]))
            exported += len(batch)
            if len(batch) < EXPORT_BATCH:
                break
        await audit.record(
            ctx,
            action="dashboard.exported",
            bureau_id=bureau_id,
            subject_type="bureau",
            subject_id=bureau_id,
            detail={
                "rows": exported,
                "sort": query.sort,
                "order": query.order,
                "country": query.country,
                "sector": query.sector,
                "status": query.status,
                "name_filter": bool(query.name),
            },
        )
    return chunks

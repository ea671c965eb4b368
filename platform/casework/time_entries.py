"""Time entries: the minutes a counsellor spends on a case, the bureau's billing unit.

Only a counsellor of the case's organisation records time on it (`cases.access_case`), and
only their own entries can be deleted, while the mistake is fresh: recorded today or in the
last `DELETE_WITHIN_DAYS` days (after that the minutes may be on an invoice). Outside the
case an entry shows nothing of it but the organisation and the case's pseudonymous reference
(REQUIREMENTS §6): `month_overview` reads them that way, for the counsellor's own list.

Limits keep absurd entries out of the bills: at most `MAX_ENTRY_MINUTES` in one entry and
`MAX_DAY_MINUTES` for one counsellor on one date across entries, a date neither in the
future nor older than `MAX_AGE_DAYS`. "Today" is the date in the Netherlands and Belgium, where
the counsellors work: a late-evening entry is not refused as "in the future". On PostgreSQL
the day total is checked under a transaction-level advisory lock per counsellor, so two
entries sent at once cannot pass the daily limit together (SQLite has one writer anyway).
Audit events carry ids, minutes, activity and date: never anything of the case.
`minutes_per_organisation` sums a period per organisation for billing, in one grouped query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from piccolo.query.functions.aggregate import Sum

from casework.cases import access_case
from casework.choices import TimeActivity
from casework.tables import TimeEntry
from klankbord import audit, database
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tenancy import (
    Scope,
    TenantContext,
    require_transaction,
    scoped,
    tenant_transaction,
)

MAX_ENTRY_MINUTES = 720
MAX_DAY_MINUTES = 1440
MAX_AGE_DAYS = 365
DELETE_WITHIN_DAYS = 30
LOCAL_TIME = ZoneInfo("Europe/Amsterdam")

# Form fields of the time panel; error codes are keyed by them (prefixed, so that they never
# clash with the case page's other forms).
MINUTES_FIELD = "time_minutes"
ACTIVITY_FIELD = "time_activity"
DATE_FIELD = "time_spent_on"
ENTRY_FIELD = "time_entry"


def local_today(now: datetime | None = None) -> date:
    """Today's date where the counsellors work."""
    return (now or datetime.now(UTC)).astimezone(LOCAL_TIME).date()


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TIME).date()


def check_entry(*, minutes: int, activity: str, spent_on: date, today: date) -> dict[str, str]:
    """The errors of one entry on its own (the day total needs the database)."""
    errors: dict[str, str] = {}
    if minutes <= 0:
        errors[MINUTES_FIELD] = "minutes_not_positive"
    elif minutes > MAX_ENTRY_MINUTES:
        errors[MINUTES_FIELD] = "minutes_over_entry_limit"
    if activity not in {choice.value for choice in TimeActivity}:
        errors[ACTIVITY_FIELD] = "activity_unknown"
    if spent_on > today:
        errors[DATE_FIELD] = "date_in_future"
    elif spent_on < today - timedelta(days=MAX_AGE_DAYS):
        errors[DATE_FIELD] = "date_too_old"
    return errors


def _staff_id(ctx: TenantContext) -> UUID:
    if ctx.staff_user_id is None:
        raise PermissionDenied()
    return ctx.staff_user_id


async def _lock_day(staff_user_id: UUID) -> None:
    if database.is_postgres():
        await database.fetch(
            "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))", f"time:{staff_user_id}"
        )


async def _day_total(ctx: TenantContext, staff_user_id: UUID, spent_on: date) -> int:
    row = (
        await scoped(TimeEntry.select(Sum(TimeEntry.minutes, alias="total")), TimeEntry, ctx)
        .where(TimeEntry.staff_user == staff_user_id)
        .where(TimeEntry.spent_on == spent_on)
        .first()
    )
    return int((row or {}).get("total") or 0)


async def add_time_entry(
    ctx: TenantContext,
    *,
    case_id: UUID,
    minutes: int,
    activity: str,
    spent_on: date,
    today: date | None = None,
) -> UUID:
    """Record minutes on a case for the signed-in counsellor; `Invalid` with field errors
    when refused (nothing stored), `NotFound` for a case that is not theirs to see."""
    staff_user_id = _staff_id(ctx)
    today = today or local_today()
    async with tenant_transaction(ctx):
        case = await access_case(ctx, case_id)
        errors = check_entry(minutes=minutes, activity=activity, spent_on=spent_on, today=today)
        if not errors:
            await _lock_day(staff_user_id)
            if await _day_total(ctx, staff_user_id, spent_on) + minutes > MAX_DAY_MINUTES:
                errors[MINUTES_FIELD] = "minutes_over_day_limit"
        if errors:
            raise Invalid(code="time_entry_invalid", fields=errors)
        entry_id = uuid4()
        await TimeEntry.insert(
            TimeEntry(
                id=entry_id,
                case=case_id,
                organisation=case["organisation"],
                bureau=case["bureau"],
                staff_user=staff_user_id,
                minutes=minutes,
                activity=activity,
                spent_on=spent_on,
            )
        )
        await _audit(ctx, "time_entry.added", case, entry_id, minutes, activity, spent_on)
    return entry_id


async def delete_time_entry(
    ctx: TenantContext, *, case_id: UUID, entry_id: UUID, now: datetime | None = None
) -> None:
    """Delete one of the counsellor's own entries of this case, recorded today or in the last
    `DELETE_WITHIN_DAYS` days. An entry of another case, or one that is not there, is
    `NotFound`; a colleague's entry `PermissionDenied`; an older one `Invalid`."""
    staff_user_id = _staff_id(ctx)
    async with tenant_transaction(ctx):
        case = await access_case(ctx, case_id)
        entry = (
            await scoped(TimeEntry.select(), TimeEntry, ctx)
            .where(TimeEntry.id == entry_id)
            .where(TimeEntry.case == case_id)
            .first()
        )
        if entry is None:
            raise NotFound()
        if UUID(str(entry["staff_user"])) != staff_user_id:
            raise PermissionDenied(code="time_entry_not_own")
        if not deletable(entry["created_at"], now=now):
            raise Invalid(code="time_entry_locked", fields={ENTRY_FIELD: "entry_too_old"})
        await scoped(TimeEntry.delete(), TimeEntry, ctx).where(TimeEntry.id == entry_id)
        await _audit(
            ctx,
            "time_entry.deleted",
            case,
            entry_id,
            int(entry["minutes"]),
            entry["activity"],
            entry["spent_on"],
        )


def deletable(created_at: datetime, *, now: datetime | None = None) -> bool:
    """Whether an entry recorded at `created_at` may still be deleted by its author."""
    recorded = local_date(created_at)
    return recorded >= local_today(now) - timedelta(days=DELETE_WITHIN_DAYS)


async def _audit(
    ctx: TenantContext,
    action: str,
    case: dict[str, Any],
    entry_id: UUID,
    minutes: int,
    activity: str,
    spent_on: date,
) -> None:
    await audit.record(
        ctx,
        action=action,
        bureau_id=case["bureau"],
        organisation_id=case["organisation"],
        subject_type="case",
        subject_id=case["id"],
        detail={
            "entry": str(entry_id),
            "minutes": minutes,
            "activity": activity,
            "spent_on": spent_on.isoformat(),
        },
    )


@dataclass(frozen=True)
class TimeEntryView:
    id: UUID
    minutes: int
    activity: str
    spent_on: date
    own: bool
    deletable: bool  # own, and recently recorded: the panel offers "delete"


@dataclass(frozen=True)
class CaseTime:
    entries: list[TimeEntryView]
    total_minutes: int


async def case_time(ctx: TenantContext, case_id: UUID) -> CaseTime:
    """Every counsellor's entries on the case, newest date first, and their total. Inside the
    caller's tenant transaction, after `access_case` (the case page has just called it)."""
    require_transaction(ctx)
    await access_case(ctx, case_id)
    rows = (
        await scoped(
            TimeEntry.select(
                TimeEntry.id,
                TimeEntry.staff_user,
                TimeEntry.minutes,
                TimeEntry.activity,
                TimeEntry.spent_on,
                TimeEntry.created_at,
            ),
            TimeEntry,
            ctx,
        )
        .where(TimeEntry.case == case_id)
        .order_by(TimeEntry.spent_on, ascending=False)
        .order_by(TimeEntry.created_at, ascending=False)
    )
    now = datetime.now(UTC)
    entries = []
    for row in rows:
        own = UUID(str(row["staff_user"])) == ctx.staff_user_id
        entries.append(
            TimeEntryView(
                id=UUID(str(row["id"])),
                minutes=int(row["minutes"]),
                activity=row["activity"],
                spent_on=row["spent_on"],
                own=own,
                deletable=own and deletable(row["created_at"], now=now),
            )
        )
    return CaseTime(entries=entries, total_minutes=sum(entry.minutes for entry in entries))


# --- outside the case: the counsellor's month, the bureau's minutes -------------------------


@dataclass(frozen=True)
class OverviewRow:
    """One entry as seen outside its case: nothing of the case but its reference."""

    organisation_id: UUID
    organisation_name: str
    case_reference: str
    spent_on: date
    activity: str
    minutes: int


@dataclass(frozen=True)
class MonthOverview:
    month: date  # the first day
    rows: list[OverviewRow]
    totals: list[tuple[str, int]]  # (organisation name, minutes), by name
    total_minutes: int


def month_bounds(month: date) -> tuple[date, date]:
    """The first day of `month` and the first day of the next (exclusive end)."""
    start = month.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


async def month_overview(ctx: TenantContext, *, month: date) -> MonthOverview:
    """The signed-in counsellor's own entries of one month (one query, whatever the number of
    cases or organisations): organisation, case reference, date, activity and minutes."""
    staff_user_id = _staff_id(ctx)
    start, end = month_bounds(month)
    async with tenant_transaction(ctx):
        raw = (
            await scoped(
                TimeEntry.select(
                    TimeEntry.organisation,
                    TimeEntry.organisation.name.as_alias("organisation_name"),
                    TimeEntry.case.reference.as_alias("case_reference"),
                    TimeEntry.spent_on,
                    TimeEntry.activity,
                    TimeEntry.minutes,
                ),
                TimeEntry,
                ctx,
            )
            .where(TimeEntry.staff_user == staff_user_id)
            .where(TimeEntry.spent_on >= start)
            .where(TimeEntry.spent_on < end)
            .order_by(TimeEntry.spent_on, ascending=False)
            .order_by(TimeEntry.created_at, ascending=False)
        )
    rows = [
        OverviewRow(
            organisation_id=UUID(str(row["organisation"])),
            organisation_name=row["organisation_name"],
            case_reference=row["case_reference"],
            spent_on=row["spent_on"],
            activity=row["activity"],
            minutes=int(row["minutes"]),
        )
        for row in raw
    ]
    names = {item.organisation_id: item.organisation_name for item in rows}
    totals: dict[UUID, int] = {}
    for item in rows:
        totals[item.organisation_id] = totals.get(item.organisation_id, 0) + item.minutes
    return MonthOverview(
        month=start,
        rows=rows,
        totals=sorted(((names[key], total) for key, total in totals.items()), key=_by_name),
        total_minutes=sum(totals.values()),
    )


def _by_name(pair: tuple[str, int]) -> str:
    return pair[0].lower()


async def minutes_per_organisation(
    ctx: TenantContext, *, bureau_id: UUID, start: date, end: date
) -> dict[UUID, int]:
    """Minutes per organisation of the bureau with `start <= spent_on < end`, in one grouped
    query (for billing). The bureau's admin or a system context only; organisations without
    time are absent."""
    if not (ctx.bureau_admin and ctx.bureau_id == bureau_id) and ctx.scope is not Scope.SYSTEM:
        raise PermissionDenied()
    async with tenant_transaction(ctx):
        rows = (
            await scoped(
                TimeEntry.select(TimeEntry.organisation, Sum(TimeEntry.minutes, alias="total")),
                TimeEntry,
                ctx,
            )
            .where(TimeEntry.bureau == bureau_id)
            .where(TimeEntry.spent_on >= start)
            .where(TimeEntry.spent_on < end)
            .group_by(TimeEntry.organisation)
        )
    return {UUID(str(row["organisation"])): int(row["total"] or 0) for row in rows}

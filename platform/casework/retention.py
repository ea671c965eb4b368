"""Retention (REQUIREMENTS §5): when a closed case is deleted for good, the warning, the purge.

`purge_date`: closure + the organisation's `retention_months_closed`, or for an integrity case
closed as `no_follow_up` its `retention_months_no_follow_up`; None while open or on legal hold;
never within `REPORTER_QUIET` of the reporter's latest activity (the date moves); while the
annual report of the year the case came in is unfinished, not before the end of the next year
(`retention_waits`). That date is fixed while the report holds the case, so the warning names
it under one dedupe key; once the report is final the date is the retention date again: one
new warning if that date had none, and the purge `WARNING` after it.

`run` (the `retention` job) reads closed cases by `closed_at`, one range per distinct setting,
so its cost grows with the cases that are due (and one query for the annual reports that may
hold them). It queues a content-free warning to the case's counsellors (dedupe key per case,
date and person: once) and purges a due case only once that warning is `WARNING` old: a
shortened setting or a stopped job delays a deletion, never skips the notice. `purge_case` is
one transaction per case: the row is locked (`FOR UPDATE SKIP LOCKED` on PostgreSQL: a replica
skips it, a legal hold being set waits), the rules are checked again, then the blobs go, then
every row with a foreign key to the case (children first) and the case, with one
`case.purged` audit event of ids and codes. Blobs before rows: a failure leaves a row whose
file is gone, never a file without a row, and the next run finishes. Each system-context
transaction writes a `system.context` audit event: one per run (the scan) and one per purged
case.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from babel.dates import format_date
from piccolo.columns import Column
from piccolo.table import Table

from casework import clocks, retention_waits
from casework.choices import Author, CaseStatus
from casework.recipients import Staff, first_in_line, load_staff
from casework.tables import Attachment, Case, Message, ReporterSession
from klankbord import audit, database, mail
from klankbord.errors import Conflict
from klankbord.settings import Settings
from klankbord.storage import blob_key, blob_store
from klankbord.tenancy import TenantContext, scoped, system_context, tenant_transaction
from tenants.choices import Procedure
from tenants.offboarding import deletion_order
from tenants.tables import Organisation

log = logging.getLogger(__name__)

BATCH = 200
LIMIT = 2000
WARNING = timedelta(days=14)
REPORTER_QUIET = timedelta(days=7)
NO_FOLLOW_UP = "no_follow_up"
# The scan's `closed_at` cutoff is `now + WARNING - months`; month-end clamping (at most three
# days) and the organisation's time zone are covered by this, the exact date in Python.
SLACK = timedelta(days=4)
REASON = "retention"


class PurgeRefused(Conflict):
    """The case may not be deleted now; `code` says why: `open`, `legal_hold`,
    `reporter_active` (within `REPORTER_QUIET` of the reporter's activity),
    `annual_report_pending` (the annual report of its year is not final) or `not_due`."""


@dataclass(frozen=True)
class Summary:
    cases: int = 0
    warnings: int = 0
    purged: int = 0
    refused: int = 0
    failed: int = 0


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def purge_date(case_row: dict[str, Any], organisation_row: dict[str, Any]) -> datetime | None:
    """When the case is deleted, by the rules; None while it is open or on legal hold. A row
    marked `retention_waits.PENDING` is not due before its `retention_waits.wait_end`."""
    if (
        case_row["status"] != CaseStatus.CLOSED
        or not case_row["closed_at"]
        or case_row["legal_hold"]
    ):
        return None
    no_follow_up = (
        case_row["procedure"] == Procedure.INTEGRITY and case_row["outcome"] == NO_FOLLOW_UP
    )
    months = organisation_row[
        "retention_months_no_follow_up" if no_follow_up else "retention_months_closed"
    ]
    zone = clocks.zone_for(str(organisation_row.get("country") or ""))
    when = clocks.add_calendar(_utc(case_row["closed_at"]), zone, months=int(months))
    active = case_row.get("reporter_active_at")
    if active is not None:
        when = max(when, _utc(active) + REPORTER_QUIET)
    if case_row.get(retention_waits.PENDING):
        when = max(when, retention_waits.wait_end(case_row))
    return when


def refusal(case_row: dict[str, Any], when: datetime | None, now: datetime) -> str | None:
    """Why the case may not be purged at `now` (a `PurgeRefused` code), or None."""
    if case_row["status"] != CaseStatus.CLOSED or case_row["closed_at"] is None:
        return "open"
    if case_row["legal_hold"]:
        return "legal_hold"
    active = case_row.get("reporter_active_at")
    if active is not None and now < _utc(active) + REPORTER_QUIET:
        return "reporter_active"
    if retention_waits.holds(case_row, now):
        return retention_waits.PENDING
    if when is None or now < when:
        return "not_due"
    return None


def case_tables() -> list[tuple[type[Table], Column]]:
    """Every table with a foreign key to the case, with that column, children first."""
    found: list[tuple[type[Table], Column]] = []
    for table, _ in deletion_order():
        for column in table._meta.foreign_key_columns:
            if table is not Case and column._foreign_key_meta.resolved_references is Case:
                found.append((table, column))
                break
    return found


# --- the job ------------------------------------------------------------------------------


async def run(
    settings: Settings, *, now: datetime | None = None, batch: int = BATCH, limit: int = LIMIT
) -> Summary:
    """Warn about and purge the cases due at `now`; safe to run again and in several processes."""
    now = _utc(now or datetime.now(UTC))
    ctx = system_context(REASON)
    due: list[UUID] = []
    warnings = 0
    async with tenant_transaction(ctx):
        rows = await _candidates(ctx, now, batch, limit)
        rows = await retention_waits.mark_pending(ctx, rows)
        people = await _People.load(ctx, rows)
        near = [(row, when) for row in rows if (when := purge_date(row, row)) is not None]
        near = [(row, when) for row, when in near if now >= when - WARNING]
        recipients = [people.recipients(row, when) for row, when in near]
        queued = await _queued([key for found in recipients for key, _ in found])
        for (row, when), found in zip(near, recipients, strict=True):
            for key, person in found:
                if key not in queued:
                    await people.warn(settings, row, when, person, key)
                    warnings += 1
            warned = [queued[key] for key, _ in found if key in queued]
            if now >= when and any(at <= now - WARNING for at in warned):
                due.append(UUID(str(row["id"])))
    purged = refused = failed = 0
    for case_id in due:
        try:
            purged += await purge_case(settings, case_id, now=now)
        except PurgeRefused as refused_error:
            log.info("retention: case %s kept (%s)", case_id, refused_error.code)
            refused += 1
        except Exception as error:  # noqa: BLE001 - one case must not stop the others
            # The type only: an error's message may quote more than ids.
            log.error("retention: case %s not purged (%s)", case_id, type(error).__name__)
            failed += 1
    if len(rows) >= limit:
        log.warning("retention: stopped at the limit of %d cases", limit)
    return Summary(len(rows), warnings, purged, refused, failed)


_ORGANISATION = (
    Case.organisation.country.as_alias("country"),
    Case.organisation.retention_months_closed.as_alias("retention_months_closed"),
    Case.organisation.retention_months_no_follow_up.as_alias("retention_months_no_follow_up"),
)


async def _candidates(
    ctx: TenantContext, now: datetime, batch: int, limit: int
) -> list[dict[str, Any]]:
    """Closed cases not on hold whose purge date may lie before `now + WARNING`: per distinct
    setting, a range of `closed_at` (with the organisations that have that setting)."""
    settings_rows = await scoped(
        Organisation.select(
            Organisation.retention_months_closed, Organisation.retention_months_no_follow_up
        ).distinct(),
        Organisation,
        ctx,
    )
    no_follow_up = (Case.procedure == Procedure.INTEGRITY) & (Case.outcome == NO_FOLLOW_UP)
    other = (Case.procedure != Procedure.INTEGRITY) | (Case.outcome != NO_FOLLOW_UP)
    ranges: list[Any] = []
    for months in sorted({int(r["retention_months_closed"]) for r in settings_rows}):
        ranges.append((months, other & (Case.organisation.retention_months_closed == months)))
    for months in sorted({int(r["retention_months_no_follow_up"]) for r in settings_rows}):
        clause = no_follow_up & (Case.organisation.retention_months_no_follow_up == months)
        ranges.append((months, clause))
    found: dict[Any, dict[str, Any]] = {}
    for months, clause in ranges:
        cutoff = clocks.add_months(now + WARNING, -months) + SLACK
        after: tuple[datetime, Any] | None = None
        while len(found) < limit:
            query = (
                scoped(Case.select(*_CASE_COLUMNS, *_ORGANISATION), Case, ctx)
                .where(Case.status == CaseStatus.CLOSED)
                .where(Case.closed_at.is_not_null())
                .where(Case.closed_at <= cutoff)
                .where(Case.legal_hold == False)  # noqa: E712
                .where(clause)
            )
            if after is not None:
                query = query.where(
                    (Case.closed_at > after[0])
                    | ((Case.closed_at == after[0]) & (Case.id > after[1]))
                )
            size = min(batch, limit - len(found))
            page = await query.order_by(Case.closed_at).order_by(Case.id).limit(size)
            found.update((row["id"], row) for row in page)
            if len(page) < size:
                break
            after = (page[-1]["closed_at"], page[-1]["id"])
    return list(found.values())


_CASE_COLUMNS = (
    Case.id,
    Case.organisation,
    Case.bureau,
    Case.procedure,
    Case.status,
    Case.outcome,
    Case.closed_at,
    Case.received_at,
    Case.legal_hold,
    Case.reporter_active_at,
    Case.reference,
    Case.counsellor,
)


async def _queued(keys: list[str]) -> dict[str, datetime]:
    """When each of the warnings with these keys was queued (the outbox keeps them for
    `mail.KEEP_SETTLED`, longer than `WARNING`)."""
    return {key: _utc(moment) for key, moment in (await mail.queued_at(keys)).items()}


# --- the warning --------------------------------------------------------------------------


@dataclass
class _People:
    """Who is warned about a page of cases: the counsellor the reporter chose, else the
    primary counsellors, else every counsellor of the organisation, else the bureau admins
    (two queries, whatever the page's size)."""

    staff: Staff

    @classmethod
    async def load(cls, ctx: TenantContext, rows: list[dict[str, Any]]) -> _People:
        return cls(await load_staff(ctx, rows))

    def recipients(self, row: dict[str, Any], when: datetime) -> list[tuple[str, dict[str, Any]]]:
        """Each person to warn, with the warning's dedupe key (per case, date and person)."""
        people = first_in_line(self.staff.counsellors_of(row), row["counsellor"])
        people = people or self.staff.admins_of(row)
        return [(f"retention:{row['id']}:{when:%Y%m%d}:{p['id']}", p) for p in people]

    async def warn(
        self,
        settings: Settings,
        row: dict[str, Any],
        when: datetime,
        person: dict[str, Any],
        key: str,
    ) -> None:
        """Queue one warning: the reference, the date, a link; nothing of the case."""
        language = person["language"] or "nl"
        _ = self.staff.gettext(settings, language)
        day = when.astimezone(clocks.zone_for(str(row["country"]))).date()
        values = {
            "reference": row["reference"] or str(row["id"])[:8],
            "date": format_date(day, "long", locale=language),
        }
        lines = [
            _(
                "Case %(reference)s will be deleted for good on %(date)s, at the end of its"
                " retention period."
            )
            % values,
            _("To keep it longer, put the case on legal hold before that date."),
            _("Open the case:"),
            f"{settings.base_url}/cases/{row['id']}",
            _("For the reporter's safety this e-mail contains nothing of the report."),
        ]
        await mail.enqueue(
            person["email"],
            _("Case %(reference)s will be deleted on %(date)s") % values,
            "\n\n".join(lines) + "\n",
            bureau=row["bureau"],
            dedupe_key=key,
        )


# --- the purge ----------------------------------------------------------------------------


async def purge_case(settings: Settings, case_id: UUID, *, now: datetime | None = None) -> int:
    """Delete the case, its rows and its files for good if the rules allow it at `now`:
    1 when purged, 0 when it is gone already (or another process holds it). `PurgeRefused`
    (nothing changed) when it is open, on legal hold, the reporter was active within
    `REPORTER_QUIET`, the annual report of its year is not final (read here, so a report made
    final since the scan counts), or its date has not come."""
    now = _utc(now or datetime.now(UTC))
    ctx = system_context(REASON)
    async with tenant_transaction(ctx):
        query = scoped(Case.select(*_CASE_COLUMNS, *_ORGANISATION), Case, ctx)
        query = query.where(Case.id == case_id)
        if database.is_postgres():
            query = query.lock_rows("UPDATE", skip_locked=True, of=(Case,))
        case = await query.first()
        if case is None:
            return 0
        case = {**case, "reporter_active_at": await _reporter_active_at(ctx, case)}
        case[retention_waits.PENDING] = await retention_waits.report_pending(ctx, case)
        reason = refusal(case, purge_date(case, case), now)
        if reason is not None:
            raise PurgeRefused(code=reason)
        store = blob_store(settings)
        for key in await _blob_keys(ctx, case):
            await store.delete(key)
        for table, column in case_tables():
            await scoped(table.delete(), table, ctx).where(column == case_id)
        await scoped(Case.delete(), Case, ctx).where(Case.id == case_id)
        await audit.record(
            ctx,
            action="case.purged",
            bureau_id=case["bureau"],
            organisation_id=case["organisation"],
            subject_type="case",
            subject_id=case_id,
            detail={
                "procedure": case["procedure"],
                "outcome": case["outcome"],
                "closed_month": f"{_utc(case['closed_at']):%Y-%m}",
            },
        )
    log.info("retention: case %s purged", case_id)
    return 1


async def _reporter_active_at(ctx: TenantContext, case: dict[str, Any]) -> datetime | None:
    """The reporter's latest sign of life: the recorded moment, their newest message, their
    newest mailbox visit (in case a path forgot to record it)."""
    moments = [case["reporter_active_at"]]
    message = (
        await scoped(Message.select(Message.created_at), Message, ctx)
        .where((Message.case == case["id"]) & (Message.author == Author.REPORTER))
        .order_by(Message.created_at, ascending=False)
        .first()
    )
    visit = (
        await scoped(ReporterSession.select(ReporterSession.last_seen_at), ReporterSession, ctx)
        .where(ReporterSession.case == case["id"])
        .order_by(ReporterSession.last_seen_at, ascending=False)
        .first()
    )
    moments += [message and message["created_at"], visit and visit["last_seen_at"]]
    found = [_utc(moment) for moment in moments if moment is not None]
    return max(found) if found else None


async def _blob_keys(ctx: TenantContext, case: dict[str, Any]) -> list[str]:
    rows = await scoped(
        Attachment.select(Attachment.organisation, Attachment.blob, Attachment.original_blob),
        Attachment,
        ctx,
    ).where(Attachment.case == case["id"])
    keys = []
    for row in rows:
        for blob in (row["blob"], row["original_blob"]):
            if blob is not None:
                keys.append(blob_key(UUID(str(row["organisation"])), UUID(str(blob))))
    return keys

"""Retention: the purge date rules, the warning 14 days ahead (once), and the purge job:
every row of the case in every case-owned table and its files gone, other cases untouched,
legal hold and recent reporter activity refused, a content-free audit event, idempotence;
a case kept while its organisation's annual report of its year is unfinished, to the end of
the next year at most."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from casework import retention, retention_waits
from casework.tables import (
    AnnualReport,
    Attachment,
    Case,
    CaseCategory,
    CaseNote,
    CaseReport,
    Consent,
    Message,
    Redaction,
    Referral,
    ReporterSession,
    TimeEntry,
)
from klankbord import jobs
from klankbord.storage import BlobNotFound, blob_key, blob_store
from klankbord.tables import AuditEvent, MailOutbox
from klankbord.tenancy import system_context, tenant_transaction
from tests.casework.test_clocks_services import make_case
from tests.support.queries import count_queries
from tests.support.world import _case

pytestmark = pytest.mark.usefixtures("rollback")
# Warnings are stamped with the outbox's own clock, so the scenarios start from the real now.
NOW = datetime.now(UTC)
LATER = NOW + timedelta(days=25)  # after the purge date of `due_case`, 14 days after its warning
CLOSED = {"retention_months_closed": 24, "retention_months_no_follow_up": 2, "country": "NL"}


@pytest.fixture
def settings(test_database: Any) -> Any:
    return test_database.settings


def row(**fields: Any) -> dict[str, Any]:
    values = {
        "status": "closed",
        "closed_at": datetime(2025, 1, 31, 10, 0, tzinfo=UTC),
        "legal_hold": False,
        "procedure": "unwanted_behaviour",
        "outcome": "listening_only",
        "reporter_active_at": datetime(2025, 1, 10, tzinfo=UTC),
    }
    return {**values, **fields}


def test_purge_date_closed_case_after_retention_months():
    assert retention.purge_date(row(), CLOSED) == datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    shorter = {**CLOSED, "retention_months_closed": 12}
    assert retention.purge_date(row(), shorter) == datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def test_purge_date_integrity_no_follow_up_uses_its_own_setting():
    no_follow_up = row(procedure="integrity", outcome="no_follow_up")
    assert retention.purge_date(no_follow_up, CLOSED) == datetime(2025, 3, 31, 9, 0, tzinfo=UTC)
    reported = row(procedure="integrity", outcome="integrity_report")
    assert retention.purge_date(reported, CLOSED) == datetime(2027, 1, 31, 10, 0, tzinfo=UTC)


def test_purge_date_open_or_legal_hold_none():
    assert retention.purge_date(row(status="in_progress", closed_at=None), CLOSED) is None
    assert retention.purge_date(row(legal_hold=True), CLOSED) is None


def test_purge_date_reporter_active_late_moves_to_seven_days_after():
    active = datetime(2027, 1, 29, 8, 0, tzinfo=UTC)
    assert retention.purge_date(row(reporter_active_at=active), CLOSED) == active + timedelta(7)
    case = row(reporter_active_at=active)
    assert retention.refusal(case, active + timedelta(days=7), active + timedelta(6)) == (
        "reporter_active"
    )


async def due_case(world: Any, organisation: str = "A1", **fields: Any) -> UUID:
    """A closed case whose 24 months end ten days from now (a reporter long quiet)."""
    closed = NOW.replace(year=NOW.year - 2) + timedelta(days=10)
    fields.setdefault("status", "closed")
    fields.setdefault("outcome", "listening_only")
    fields.setdefault("closed_at", closed)
    fields.setdefault("received_at", closed - timedelta(days=60))
    fields.setdefault("reporter_active_at", closed - timedelta(days=30))
    return await make_case(world, organisation, procedure="unwanted_behaviour", **fields)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def fill(settings: Any, world: Any, case_id: UUID) -> list[str]:
    """One row in every case-owned table, and a sanitised and an original file; their keys."""
    organisation, bureau = world.organisations["A1"], world.bureaus["A"]
    owned = {"case": case_id, "organisation": organisation, "bureau": bureau}
    old = NOW - timedelta(days=400)
    message_id, blobs = uuid4(), (uuid4(), uuid4())
    store = blob_store(settings)
    keys = [blob_key(organisation, blob) for blob in blobs]
    for key in keys:
        await store.put(key, _chunks(b"ciphertext"), max_bytes=100)
    async with tenant_transaction(system_context("test")):
        await CaseReport.insert(CaseReport(**owned, answers="sealed"))
        await Message.insert(
            Message(id=message_id, **owned, author="reporter", body="sealed", created_at=old)
        )
        await Attachment.insert(
            Attachment(
                **owned,
                message=message_id,
                author="reporter",
                name="sealed",
                media_type="text/plain",
                size=10,
                blob=blobs[0],
                original_blob=blobs[1],
            )
        )
        await ReporterSession.insert(
            ReporterSession(
                **owned, token_hash=secrets.token_hex(32), last_seen_at=old, expires_at=old
            )
        )
        await Consent.insert(
            Consent(**owned, step="referral", status="given", method="conversation", asked_at=old)
        )
        await CaseCategory.insert(CaseCategory(**owned, code="bullying"))
        await TimeEntry.insert(
            TimeEntry(
                **owned,
                staff_user=world.users["counsellor_A1"],
                minutes=30,
                activity="conversation",
                spent_on=date(2024, 1, 2),
            )
        )
        await CaseNote.insert(CaseNote(**owned, body="sealed"))
        await Referral.insert(Referral(**owned, actor="hr", recipient="sealed", shared="sealed"))
        await Redaction.insert(Redaction(**owned, target="answer:summary", passage="sealed"))
    return keys


async def counts(case_id: UUID) -> dict[str, int]:
    async with tenant_transaction(system_context("test")):
        found = {"case_file": await Case.count().where(Case.id == case_id)}
        for table, column in retention.case_tables():
            found[table._meta.tablename] = await table.count().where(column == case_id)
    return found


async def blob_exists(settings: Any, key: str) -> bool:
    try:
        stream = await blob_store(settings).get(key)
    except BlobNotFound:
        return False
    async for _ in stream:
        pass
    return True


async def warnings_for(case_id: UUID) -> list[dict[str, Any]]:
    return await MailOutbox.select().where(MailOutbox.dedupe_key.like(f"retention:{case_id}:%"))


async def purged_events(case_id: UUID) -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test")):
        return await AuditEvent.select().where(
            (AuditEvent.action == "case.purged") & (AuditEvent.subject_id == str(case_id))
        )


async def set_case(case_id: UUID, **values: Any) -> None:
    async with tenant_transaction(system_context("test")):
        await Case.update({Case._meta.get_column_by_name(k): v for k, v in values.items()}).where(
            Case.id == case_id
        )


async def test_retention_warning_fourteen_days_ahead_once_without_content(world, settings):
    case_id = await due_case(world)
    early = await retention.run(settings, now=NOW - timedelta(days=5))
    assert await warnings_for(case_id) == [] and early.warnings == 0
    first = await retention.run(settings, now=NOW)
    second = await retention.run(settings, now=NOW + timedelta(hours=1))
    [mail] = await warnings_for(case_id)
    assert (first.warnings, second.warnings) == (1, 0)
    assert mail["recipient"] == "counsellor.a1@example.test"
    async with tenant_transaction(system_context("test")):
        found = await Case.select(Case.reference).where(Case.id == case_id).first()
    reference = found["reference"]
    assert reference in mail["subject"] and f"/cases/{case_id}" in mail["body"]
    assert str((NOW + timedelta(days=10)).year) in mail["body"]
    assert "voorgoed verwijderd" in mail["body"]  # the counsellor reads Dutch
    assert "sealed" not in mail["body"] and second.purged == 0
    assert (await counts(case_id))["case_file"] == 1


async def test_retention_purge_removes_every_row_and_file_others_stay(world, settings):
    case_id = await due_case(world)
    keys = await fill(settings, world, case_id)
    kept = await due_case(world, closed_at=NOW - timedelta(days=30))  # 23 months to go
    other_key = blob_key(world.organisations["A1"], await _world_blob(world, "A1"))
    before = await counts(case_id)
    expected = {"case_report", "case_message", "case_attachment", "reporter_session"}
    expected |= {"case_consent", "case_category", "time_entry", "case_note", "case_referral"}
    assert expected | {"case_redaction", "case_file"} <= {t for t, n in before.items() if n}
    assert all([await blob_exists(settings, key) for key in keys])

    await retention.run(settings, now=NOW)
    summary = await retention.run(settings, now=LATER)

    assert summary.purged == 1
    assert set((await counts(case_id)).values()) == {0}
    assert not any([await blob_exists(settings, key) for key in keys])
    assert (await counts(kept))["case_file"] == 1
    assert (await counts(world.case_ids["A1"]))["case_attachment"] == 1
    assert await blob_exists(settings, other_key)


async def _world_blob(world: Any, key: str) -> UUID:
    async with tenant_transaction(system_context("test")):
        found = await Attachment.select(Attachment.blob).where(
            Attachment.id == world.attachment_ids[key]
        )
    return UUID(str(found[0]["blob"]))


async def test_retention_case_from_intake_with_file_purged(world, settings):
    case_id, attachment_id = await _case(settings, world, "B1")
    async with tenant_transaction(system_context("test")):
        found = await Attachment.select(Attachment.blob).where(Attachment.id == attachment_id)
    key = blob_key(world.organisations["B1"], UUID(str(found[0]["blob"])))
    closed = NOW.replace(year=NOW.year - 2) + timedelta(days=10)
    await set_case(case_id, status="closed", closed_at=closed, reporter_active_at=closed)
    await retention.run(settings, now=NOW)
    assert (await warnings_for(case_id))[0]["recipient"] == "counsellor.b1@example.test"
    await retention.run(settings, now=LATER)
    assert set((await counts(case_id)).values()) == {0}
    assert not await blob_exists(settings, key)


async def test_retention_due_without_earlier_warning_warns_then_waits(world, settings):
    case_id = await due_case(world, closed_at=NOW.replace(year=NOW.year - 2) - timedelta(days=3))
    summary = await retention.run(settings, now=NOW)
    assert (summary.warnings, summary.purged) == (1, 0)
    assert (await counts(case_id))["case_file"] == 1
    assert (await retention.run(settings, now=NOW + timedelta(days=13))).purged == 0
    assert (await retention.run(settings, now=NOW + timedelta(days=15))).purged == 1


async def test_retention_legal_hold_refused(world, settings):
    case_id = await due_case(world)
    await retention.run(settings, now=NOW)
    await set_case(case_id, legal_hold=True)
    assert (await retention.run(settings, now=LATER)).purged == 0
    with pytest.raises(retention.PurgeRefused) as refused:
        await retention.purge_case(settings, case_id, now=LATER)
    assert refused.value.code == "legal_hold"
    assert (await counts(case_id))["case_file"] == 1 and await purged_events(case_id) == []


async def test_retention_reporter_message_three_days_ago_refused(world, settings):
    case_id = await due_case(world)
    keys = await fill(settings, world, case_id)
    await retention.run(settings, now=NOW)
    async with tenant_transaction(system_context("test")):
        await Message.insert(
            Message(
                case=case_id,
                organisation=world.organisations["A1"],
                bureau=world.bureaus["A"],
                author="reporter",
                body="sealed",
                created_at=LATER - timedelta(days=3),
            )
        )
    summary = await retention.run(settings, now=LATER)
    assert (summary.purged, summary.refused) == (0, 1)
    with pytest.raises(retention.PurgeRefused) as refused:
        await retention.purge_case(settings, case_id, now=LATER)
    assert refused.value.code == "reporter_active"
    assert (await counts(case_id))["case_message"] == 2
    assert all([await blob_exists(settings, key) for key in keys])


async def test_retention_open_case_refused(world, settings):
    case_id = await make_case(world, status="in_progress")
    with pytest.raises(retention.PurgeRefused) as refused:
        await retention.purge_case(settings, case_id, now=LATER)
    assert refused.value.code == "open"


async def test_retention_audit_event_without_content(world, settings):
    case_id = await due_case(world)
    await fill(settings, world, case_id)
    await retention.run(settings, now=NOW)
    await retention.run(settings, now=LATER)
    [event] = await purged_events(case_id)
    detail = retention_detail(event["detail"])
    closed = NOW.replace(year=NOW.year - 2) + timedelta(days=10)
    assert detail == {
        "procedure": "unwanted_behaviour",
        "outcome": "listening_only",
        "closed_month": f"{closed:%Y-%m}",
    }
    assert event["organisation"] == world.organisations["A1"]
    assert event["chain"] == str(world.bureaus["A"]) and event["subject_type"] == "case"


def retention_detail(stored: Any) -> Any:
    return json.loads(stored) if isinstance(stored, str) else stored


async def test_retention_run_twice_idempotent(world, settings):
    case_id = await due_case(world)
    await fill(settings, world, case_id)
    await retention.run(settings, now=NOW)
    first = await retention.run(settings, now=LATER)
    second = await retention.run(settings, now=LATER + timedelta(hours=1))
    assert (first.purged, second.purged, second.failed) == (1, 0, 0)
    assert len(await purged_events(case_id)) == 1
    assert await retention.purge_case(settings, case_id, now=LATER) == 0


async def test_retention_job_registered_runs_at_most_hourly(settings, monkeypatch):
    monkeypatch.setattr(jobs, "_retention_ran_at", [])
    assert jobs.JOBS["retention"] is jobs._retention
    assert "cases checked" in await jobs._retention(settings)
    assert await jobs._retention(settings) == "not due yet"


async def test_retention_scan_reads_only_cases_near_their_date(world):
    due = await due_case(world)
    no_follow_up = await make_case(
        world,
        status="closed",
        outcome="no_follow_up",
        closed_at=NOW - timedelta(days=70),
        reporter_active_at=NOW - timedelta(days=80),
    )
    recent = await due_case(world, closed_at=NOW - timedelta(days=70))  # 24 months apply
    held = await due_case(world, legal_hold=True)
    ctx = system_context("retention")
    async with tenant_transaction(ctx):
        found = {row["id"] for row in await retention._candidates(ctx, NOW, 1, 100)}
    assert {due, no_follow_up} <= found
    assert not {recent, held, world.case_ids["A1"]} & found


# --- the annual report's wait ---------------------------------------------------------------

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
RECEIVED = NOW - timedelta(days=55)  # closed 50 days ago: two months end in 9 to 12 days
YEAR = RECEIVED.astimezone(AMSTERDAM).year
WAIT_END = datetime(YEAR + 2, 1, 1, tzinfo=AMSTERDAM).astimezone(UTC)


async def recent_case(world: Any, organisation: str = "A1", **fields: Any) -> UUID:
    """An integrity case closed without follow-up (two months' retention), due within
    `retention.WARNING` of now, received in `YEAR`."""
    fields.setdefault("received_at", RECEIVED)
    fields.setdefault("closed_at", NOW - timedelta(days=50))
    fields.setdefault("reporter_active_at", NOW - timedelta(days=50))
    return await make_case(world, organisation, status="closed", outcome="no_follow_up", **fields)


async def annual_report(world: Any, organisation: str, year: int, status: str = "draft") -> UUID:
    report_id = uuid4()
    async with tenant_transaction(system_context("test")):
        await AnnualReport.insert(
            AnnualReport(
                id=report_id,
                organisation=world.organisations[organisation],
                bureau=world.bureau_of(organisation),
                year=year,
                status=status,
            )
        )
    return report_id


async def set_report(report_id: UUID, status: str) -> None:
    async with tenant_transaction(system_context("test")):
        await AnnualReport.update({AnnualReport.status: status}).where(AnnualReport.id == report_id)


def test_purge_date_annual_report_pending_not_before_end_of_next_year():
    received = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)  # 1 January 2026 in Amsterdam
    case = row(procedure="integrity", outcome="no_follow_up", received_at=received)
    pending = {**case, retention_waits.PENDING: True}
    end = datetime(2027, 12, 31, 23, 0, tzinfo=UTC)  # 1 January 2028, local midnight
    assert retention.purge_date(case, CLOSED) == datetime(2025, 3, 31, 9, 0, tzinfo=UTC)
    assert retention.purge_date(pending, CLOSED) == end
    later = {**CLOSED, "retention_months_no_follow_up": 48}
    assert retention.purge_date(pending, later) == datetime(2029, 1, 31, 10, 0, tzinfo=UTC)


def test_refusal_annual_report_pending_until_end_of_next_year():
    pending = row(received_at=datetime(2025, 6, 1, tzinfo=UTC), **{retention_waits.PENDING: True})
    due = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    end = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    assert retention.refusal(pending, due, end - timedelta(seconds=1)) == "annual_report_pending"
    assert retention.refusal(pending, due, due) is None
    assert retention.refusal({**pending, retention_waits.PENDING: False}, end, end) is None


@pytest.mark.parametrize("status", ["draft", "review"])
async def test_retention_unfinished_report_of_case_year_keeps_case_without_warning(
    world, settings, status
):
    case_id = await recent_case(world)
    await annual_report(world, "A1", YEAR, status)
    first = await retention.run(settings, now=NOW)
    second = await retention.run(settings, now=LATER)
    assert (first.warnings, second.warnings, second.purged) == (0, 0, 0)
    assert await warnings_for(case_id) == []
    with pytest.raises(retention.PurgeRefused) as refused:
        await retention.purge_case(settings, case_id, now=LATER)
    assert refused.value.code == "annual_report_pending"
    assert (await counts(case_id))["case_file"] == 1 and await purged_events(case_id) == []


async def test_retention_report_made_final_case_warned_then_purged(world, settings):
    case_id = await recent_case(world)
    report_id = await annual_report(world, "A1", YEAR)
    assert (await retention.run(settings, now=NOW)).warnings == 0
    await set_report(report_id, "final")
    warned = await retention.run(settings, now=NOW)
    again = await retention.run(settings, now=NOW + timedelta(hours=1))
    assert (warned.warnings, again.warnings, warned.purged) == (1, 0, 0)
    assert (await retention.run(settings, now=LATER)).purged == 1
    assert (await counts(case_id))["case_file"] == 0


async def test_retention_report_final_between_scan_and_purge_seen(world, settings):
    case_id = await recent_case(world)
    report_id = await annual_report(world, "A1", YEAR)
    with pytest.raises(retention.PurgeRefused):
        await retention.purge_case(settings, case_id, now=LATER)
    await set_report(report_id, "final")
    assert await retention.purge_case(settings, case_id, now=LATER) == 1


async def test_retention_case_year_without_report_purged(world, settings):
    case_id = await recent_case(world)
    await annual_report(world, "A1", YEAR - 1)
    await annual_report(world, "A1", YEAR + 1)
    await retention.run(settings, now=NOW)
    assert (await retention.run(settings, now=LATER)).purged == 1
    assert (await counts(case_id))["case_file"] == 0


async def test_retention_other_organisation_draft_does_not_hold_case(world, settings):
    case_id = await recent_case(world)
    other = await recent_case(world, "A2")
    await annual_report(world, "A2", YEAR)
    await retention.run(settings, now=NOW)
    summary = await retention.run(settings, now=LATER)
    assert (summary.purged, summary.refused) == (1, 0)
    assert (await counts(case_id))["case_file"] == 0
    assert (await counts(other))["case_file"] == 1


async def test_retention_draft_after_end_of_next_year_purged(world, settings):
    case_id = await due_case(world, received_at=datetime(NOW.year - 3, 6, 1, tzinfo=UTC))
    await annual_report(world, "A1", NOW.year - 3)
    await retention.run(settings, now=NOW)
    assert (await retention.run(settings, now=LATER)).purged == 1
    assert (await counts(case_id))["case_file"] == 0


async def test_retention_draft_warning_once_for_end_of_next_year_then_purged(world, settings):
    case_id = await recent_case(world)
    await annual_report(world, "A1", YEAR)
    first = await retention.run(settings, now=WAIT_END - timedelta(days=10))
    second = await retention.run(settings, now=WAIT_END - timedelta(days=9))
    [mail] = await warnings_for(case_id)
    assert (first.warnings, second.warnings, second.purged) == (1, 0, 0)
    assert str(YEAR + 2) in mail["body"]  # 1 January, the end of the wait
    with pytest.raises(retention.PurgeRefused) as refused:
        await retention.purge_case(settings, case_id, now=WAIT_END - timedelta(seconds=1))
    assert refused.value.code == "annual_report_pending"
    assert (await retention.run(settings, now=WAIT_END + timedelta(days=5))).purged == 1


async def test_retention_scan_reads_annual_reports_once_per_run(world, settings):
    await recent_case(world)
    await annual_report(world, "A1", YEAR)
    await annual_report(world, "B1", YEAR)
    with count_queries() as few:
        await retention.run(settings, now=NOW)
    await annual_report(world, "A2", YEAR)
    for organisation in ("A1", "B1", "A2"):
        await recent_case(world, organisation)
    with count_queries() as many:
        await retention.run(settings, now=NOW)
    reads = [s for s in many.statements if "annual_report" in s]
    assert few.count == many.count and len(reads) == 1

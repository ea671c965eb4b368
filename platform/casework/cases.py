"""A counsellor's cases: the list across organisations, one case with its report and thread.

Only counsellors of a case's organisation see it (REQUIREMENTS §5): bureau admins and
organisation contacts get the same not-found as for a case that does not exist. The full case
page (identity behind a reason, notes, workflow, clocks) arrives with casework; this is what a
counsellor needs to read a report and answer the reporter.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from piccolo.columns.combination import WhereRaw
from piccolo.query.methods.select import SelectRaw

from casework import attachments, clocks, sealing
from casework.choices import Author, CaseStatus
from casework.tables import Case, CaseCategory, CaseReport, Message
from casework.workflows import Workflow, parse_steps, workflow
from klankbord.errors import NotFound
from klankbord.tenancy import Role, TenantContext, require_transaction, scoped
from tenants.access import access_organisation
from tenants.tables import Organisation

PAGE_SIZE = 50
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L, U: read aloud safely


def new_reference(moment: datetime) -> str:
    """A case's pseudonymous reference, e.g. "2026-K7QM2X": the year and 6 random symbols
    (30^6, about 7e8, per year and organisation; the unique index refuses a repeat). It says
    nothing about the case and does not count cases, unlike a sequence number."""
    symbols = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
    return f"{moment.year}-{symbols}"


def counsellor_organisations(ctx: TenantContext) -> list[UUID]:
    return sorted(
        (org for org in ctx.organisation_ids if ctx.role_in(org) is Role.COUNSELLOR), key=str
    )


@dataclass(frozen=True)
class CaseRow:
    id: UUID
    reference: str
    organisation_name: str
    procedure: str
    status: str
    received_at: datetime
    next_due_at: datetime | None
    unread: int


@dataclass(frozen=True)
class CaseloadQuery:
    """Filters (GET parameters) and the keyset cursor of one caseload page."""

    organisation: UUID | None = None
    procedure: str = ""
    status: str = "open"  # open, received, in_progress, closed, all
    due_soon: bool = False
    unread: bool = False
    after: str = ""  # the cursor: where the previous page ended


@dataclass(frozen=True)
class Caseload:
    rows: list[CaseRow]
    next_cursor: str  # "" on the last page
    total: int
    due_soon: int
    overdue: int
    unread: int
    organisations: list[tuple[UUID, str]]


STATUSES = ("open", "received", "in_progress", "closed", "all")
DUE_SOON = timedelta(days=3)
_UNREAD = (
    'SELECT COUNT(*) FROM case_message m WHERE m."case" = case_file.id'
    " AND m.author = 'reporter' AND m.read_at IS NULL"
)


def _cursor(row: dict[str, Any]) -> str:
    if row["next_due_at"] is not None:
        return f"d~{row['next_due_at'].isoformat()}~{row['id']}"
    return f"n~{row['received_at'].isoformat()}~{row['id']}"


def _parse_cursor(value: str) -> tuple[str, datetime, UUID] | None:
    parts = value.split("~")
    if len(parts) != 3 or parts[0] not in ("d", "n"):
        return None
    try:
        return parts[0], datetime.fromisoformat(parts[1]), UUID(parts[2])
    except ValueError:
        return None


def _filters(ctx: TenantContext, query: CaseloadQuery, organisations: list[UUID]) -> list[Any]:
    clauses: list[Any] = [Case.organisation.is_in(organisations)]
    if query.organisation is not None:
        clauses.append(Case.organisation == query.organisation)
    if query.procedure:
        clauses.append(Case.procedure == query.procedure)
    if query.status == "open":
        clauses.append(Case.status != CaseStatus.CLOSED)
    elif query.status in ("received", "in_progress", "closed"):
        clauses.append(Case.status == query.status)
    if query.due_soon:
        clauses.append(Case.next_due_at <= datetime.now(UTC) + DUE_SOON)
    if query.unread:
        clauses.append(WhereRaw(f"({_UNREAD}) > 0"))
    return clauses


def _where(select: Any, clauses: list[Any]) -> Any:
    for clause in clauses:
        select = select.where(clause)
    return select


async def caseload(ctx: TenantContext, query: CaseloadQuery) -> Caseload:
    """The counsellor's cases across every organisation they serve, the nearest deadline first
    (cases without an open deadline after them, newest first), `PAGE_SIZE` at a time by keyset
    (the cursor is the last row's sort key, so page 50 costs what page 1 costs). A fixed number
    of queries whatever the number of organisations or cases."""
    require_transaction(ctx)
    organisations = counsellor_organisations(ctx)
    if not organisations:
        return Caseload([], "", 0, 0, 0, 0, [])
    clauses = _filters(ctx, query, organisations)
    columns = (
        Case.id,
        Case.reference,
        Case.organisation.name.as_alias("organisation_name"),
        Case.procedure,
        Case.status,
        Case.received_at,
        Case.next_due_at,
        SelectRaw(f"({_UNREAD})", alias="unread"),
    )
    cursor = _parse_cursor(query.after)
    rows: list[dict[str, Any]] = []
    if cursor is None or cursor[0] == "d":
        due = _where(scoped(Case.select(*columns), Case, ctx), clauses).where(
            Case.next_due_at.is_not_null()
        )
        if cursor is not None:
            due = due.where(
                (Case.next_due_at > cursor[1])
                | ((Case.next_due_at == cursor[1]) & (Case.id > cursor[2]))
            )
        rows = await due.order_by(Case.next_due_at, Case.id).limit(PAGE_SIZE + 1)
    if len(rows) <= PAGE_SIZE:
        rest = _where(scoped(Case.select(*columns), Case, ctx), clauses).where(
            Case.next_due_at.is_null()
        )
        if cursor is not None and cursor[0] == "n":
            rest = rest.where(
                (Case.received_at < cursor[1])
                | ((Case.received_at == cursor[1]) & (Case.id < cursor[2]))
            )
        rows += await rest.order_by(Case.received_at, Case.id, ascending=False).limit(
            PAGE_SIZE + 1 - len(rows)
        )
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    total = await _where(scoped(Case.count(), Case, ctx), clauses)
    now = datetime.now(UTC)
    open_cases = scoped(Case.count(), Case, ctx).where(
        Case.organisation.is_in(organisations) & (Case.status != CaseStatus.CLOSED)
    )
    # Each figure walks an index: (organisation, next_due_at) for the deadlines, and the
    # partial index of unread reporter messages for "unread" (not every case's messages).
    due_soon = await open_cases.where(Case.next_due_at <= now + DUE_SOON)
    overdue = await scoped(Case.count(), Case, ctx).where(
        Case.organisation.is_in(organisations)
        & (Case.status != CaseStatus.CLOSED)
        & (Case.next_due_at < now)
    )
    unread = await scoped(Message.count(distinct=[Message.case]), Message, ctx).where(
        Message.organisation.is_in(organisations)
        & (Message.author == Author.REPORTER)
        & Message.read_at.is_null()
    )
    names = await organisation_names(ctx)
    return Caseload(
        rows=[
            CaseRow(
                id=UUID(str(row["id"])),
                reference=row["reference"],
                organisation_name=row["organisation_name"],
                procedure=row["procedure"],
                status=row["status"],
                received_at=row["received_at"],
                next_due_at=row["next_due_at"],
                unread=int(row["unread"] or 0),
            )
            for row in page
        ],
        next_cursor=_cursor(page[-1]) if more else "",
        total=int(total),
        due_soon=int(due_soon),
        overdue=int(overdue),
        unread=int(unread),
        organisations=names,
    )


async def organisation_names(ctx: TenantContext) -> list[tuple[UUID, str]]:
    """The organisations the counsellor serves, by name (one query)."""
    require_transaction(ctx)
    organisations = counsellor_organisations(ctx)
    if not organisations:
        return []
    rows = (
        await scoped(Organisation.select(Organisation.id, Organisation.name), Organisation, ctx)
        .where(Organisation.id.is_in(organisations))
        .order_by(Organisation.name)
    )
    return [(UUID(str(row["id"])), row["name"]) for row in rows]


async def access_case(ctx: TenantContext, case_id: UUID) -> dict[str, Any]:
    """The case row, for a counsellor of its organisation only; `NotFound` otherwise."""
    require_transaction(ctx)
    row = await scoped(Case.select(), Case, ctx).where(Case.id == case_id).first()
    if row is None or ctx.role_in(UUID(str(row["organisation"]))) is not Role.COUNSELLOR:
        raise NotFound()
    return row


@dataclass(frozen=True)
class ThreadEntry:
    id: UUID
    author: str
    body: str = field(repr=False)
    created_at: datetime
    files: list[attachments.AttachmentView]


@dataclass(frozen=True)
class CaseView:
    id: UUID
    organisation_id: UUID
    organisation_name: str
    reference: str
    channel: str
    procedure: str
    status: str
    outcome: str
    closed_at: datetime | None
    categories: list[str]
    reporter_role: str
    steps_done: list[str]
    workflow: Workflow
    legal_hold: bool
    linked: tuple[UUID, str] | None  # the linked case: id and reference
    clocks: Any  # acknowledgement.ClockView
    masks: list[Any]  # redaction.Mask: masked passages, for the form to lift them
    anonymity: str
    meeting: str
    received_at: datetime
    deadlines: clocks.Deadlines
    answers: list[dict[str, str]] = field(repr=False)
    has_identity: bool
    report_files: list[attachments.AttachmentView]
    thread: list[ThreadEntry]


async def _clocks(ctx: TenantContext, case: dict[str, Any]) -> Any:
    # Imported here: `acknowledgement` finds cases through this module.
    from casework import acknowledgement

    return await acknowledgement.case_clocks(ctx, case)


async def case_view(ctx: TenantContext, case_id: UUID) -> CaseView:
    """The case with its report and thread, decrypted; the reporter's messages count as read."""
    case = await access_case(ctx, case_id)
    organisation_id = UUID(str(case["organisation"]))
    sealer = await sealing.sealer(ctx, organisation_id)
    organisation = await access_organisation(ctx, organisation_id)
    linked = None
    if case["linked_case"]:
        other = (
            await scoped(Case.select(Case.id, Case.reference), Case, ctx)
            .where(Case.id == case["linked_case"])
            .first()
        )
        linked = (UUID(str(other["id"])), other["reference"]) if other else None
    category_rows = await scoped(CaseCategory.select(CaseCategory.code), CaseCategory, ctx).where(
        CaseCategory.case == case_id
    )
    report = (
        await scoped(CaseReport.select(CaseReport.answers, CaseReport.identity), CaseReport, ctx)
        .where(CaseReport.case == case_id)
        .first()
    )
    messages = (
        await scoped(Message.select(), Message, ctx)
        .where(Message.case == case_id)
        .order_by(Message.created_at)
    )
    files = await attachments.list_attachments(ctx, sealer, case_id=case_id)
    from casework import redaction  # it reads cases through this module

    case_masks = await redaction.masks(ctx, case)
    answer_masks: dict[str, list[str]] = {}
    for mask in case_masks:
        answer_masks.setdefault(mask.target, []).append(mask.passage)
    unread = [
        row["id"] for row in messages if row["author"] == Author.REPORTER and not row["read_at"]
    ]
    if unread:
        await scoped(Message.update({Message.read_at: datetime.now(UTC)}), Message, ctx).where(
            Message.id.is_in(unread)
        )
    by_message: dict[UUID | None, list[attachments.AttachmentView]] = {}
    for item in files:
        by_message.setdefault(item.message_id, []).append(item)
    return CaseView(
        id=case_id,
        organisation_id=organisation_id,
        organisation_name=organisation["name"],
        reference=case["reference"],
        channel=case["channel"],
        procedure=case["procedure"],
        status=case["status"],
        outcome=case["outcome"],
        closed_at=case["closed_at"],
        categories=sorted(row["code"] for row in category_rows),
        reporter_role=case["reporter_role"],
        steps_done=parse_steps(case["steps"]),
        workflow=workflow(case["procedure"]),
        legal_hold=bool(case["legal_hold"]),
        linked=linked,
        clocks=await _clocks(ctx, case),
        anonymity=case["anonymity"],
        meeting=case["meeting"],
        received_at=case["received_at"],
        deadlines=clocks.deadlines(case["received_at"], case["acknowledged_at"]),
        answers=[
            {
                **item,
                "answer": redaction.masked(
                    str(item.get("answer", "")), answer_masks.get(f"answer:{item.get('key')}", [])
                ),
            }
            for item in (
                sealer.open_json("report.answers", case_id, report["answers"]) if report else []
            )
        ],
        masks=case_masks,
        has_identity=bool(report and report["identity"]),
        report_files=by_message.get(None, []),
        thread=[
            ThreadEntry(
                id=UUID(str(row["id"])),
                author=row["author"],
                body=redaction.masked(
                    sealer.open("message.body", UUID(str(row["id"])), row["body"]),
                    answer_masks.get(f"message:{row['id']}", []),
                ),
                created_at=row["created_at"],
                files=by_message.get(UUID(str(row["id"])), []),
            )
            for row in messages
        ],
    )


IDENTITY_REASONS = ("contact_reporter", "plan_meeting", "legal_duty", "handover")


async def show_identity(ctx: TenantContext, *, case_id: UUID, reason: str) -> dict[str, str]:
    """The reporter's contact details, for a stated reason; every view is audited (who, when,
    why — the reason as a code, never the details)."""
    from klankbord import audit
    from klankbord.errors import Invalid

    if reason not in IDENTITY_REASONS:
        raise Invalid(code="reason_required", fields={"identity_reason": "reason_required"})
    case = await access_case(ctx, case_id)
    report = (
        await scoped(CaseReport.select(CaseReport.identity), CaseReport, ctx)
        .where(CaseReport.case == case_id)
        .first()
    )
    if report is None or not report["identity"]:
        raise NotFound()
    sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
    identity: dict[str, str] = sealer.open_json("report.identity", case_id, report["identity"])
    await audit.record(
        ctx,
        action="case.identity_viewed",
        organisation_id=UUID(str(case["organisation"])),
        subject_type="case",
        subject_id=case_id,
        detail={"reason": reason},
    )
    return identity

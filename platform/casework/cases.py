"""A counsellor's cases: the list across organisations, one case with its report and thread.

Only counsellors of a case's organisation see it (REQUIREMENTS §5): bureau admins and
organisation contacts get the same not-found as for a case that does not exist. The full case
page (identity behind a reason, notes, workflow, clocks) arrives with casework; this is what a
counsellor needs to read a report and answer the reporter.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from casework import attachments, clocks, sealing
from casework.choices import Author
from casework.tables import Case, CaseReport, Message
from klankbord.errors import NotFound
from klankbord.tenancy import Role, TenantContext, require_transaction, scoped

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
    organisation_name: str
    procedure: str
    status: str
    received_at: datetime
    acknowledgement_due: datetime


async def list_cases(ctx: TenantContext, *, page: int = 1) -> list[CaseRow]:
    """The counsellor's cases, newest first, one page (one query whatever the number of
    organisations)."""
    require_transaction(ctx)
    organisations = counsellor_organisations(ctx)
    if not organisations:
        return []
    rows = (
        await scoped(
            Case.select(
                Case.id,
                Case.organisation.name.as_alias("organisation_name"),
                Case.procedure,
                Case.status,
                Case.received_at,
                Case.acknowledged_at,
            ),
            Case,
            ctx,
        )
        .where(Case.organisation.is_in(organisations))
        .order_by(Case.received_at, ascending=False)
        .limit(PAGE_SIZE)
        .offset((max(page, 1) - 1) * PAGE_SIZE)
    )
    return [
        CaseRow(
            id=UUID(str(row["id"])),
            organisation_name=row["organisation_name"],
            procedure=row["procedure"],
            status=row["status"],
            received_at=row["received_at"],
            acknowledgement_due=clocks.deadlines(
                row["received_at"], row["acknowledged_at"]
            ).acknowledgement_due,
        )
        for row in rows
    ]


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
    procedure: str
    status: str
    anonymity: str
    meeting: str
    received_at: datetime
    deadlines: clocks.Deadlines
    answers: list[dict[str, str]] = field(repr=False)
    has_identity: bool
    report_files: list[attachments.AttachmentView]
    thread: list[ThreadEntry]


async def case_view(ctx: TenantContext, case_id: UUID) -> CaseView:
    """The case with its report and thread, decrypted; the reporter's messages count as read."""
    case = await access_case(ctx, case_id)
    organisation_id = UUID(str(case["organisation"]))
    sealer = await sealing.sealer(ctx, organisation_id)
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
        procedure=case["procedure"],
        status=case["status"],
        anonymity=case["anonymity"],
        meeting=case["meeting"],
        received_at=case["received_at"],
        deadlines=clocks.deadlines(case["received_at"], case["acknowledged_at"]),
        answers=sealer.open_json("report.answers", case_id, report["answers"]) if report else [],
        has_identity=bool(report and report["identity"]),
        report_files=by_message.get(None, []),
        thread=[
            ThreadEntry(
                id=UUID(str(row["id"])),
                author=row["author"],
                body=sealer.open("message.body", UUID(str(row["id"])), row["body"]),
                created_at=row["created_at"],
                files=by_message.get(UUID(str(row["id"])), []),
            )
            for row in messages
        ],
    )

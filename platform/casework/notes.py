"""Internal notes and the timeline of a case.

Notes are private to the case's counsellors: sealed, never shown to the reporter or the
organisation. The timeline is read from the bureau's audit log (events whose subject is the
case: ids and codes only), so it shows what happened and when, and who (a counsellor, the
reporter, the system), without any content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from casework import cases, sealing
from casework.tables import CaseNote
from klankbord import audit
from klankbord.errors import Invalid
from klankbord.tables import AuditEvent
from klankbord.tenancy import TenantContext, require_transaction, scoped, tenant_transaction

NOTE_MAX_CHARS = 20_000
TIMELINE_LIMIT = 200


@dataclass(frozen=True)
class Note:
    id: UUID
    author: str
    body: str = field(repr=False)
    created_at: datetime


async def add_note(ctx: TenantContext, *, case_id: UUID, text: str) -> UUID:
    body = text.strip()
    if not body:
        raise Invalid(code="note_empty", fields={"note": "note_empty"})
    if len(body) > NOTE_MAX_CHARS:
        raise Invalid(code="too_long", fields={"note": "too_long"})
    note_id = uuid4()
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
        await CaseNote.insert(
            CaseNote(
                id=note_id,
                case=case_id,
                organisation=case["organisation"],
                bureau=case["bureau"],
                staff_user=ctx.staff_user_id,
                body=sealer.seal("note.body", note_id, body),
            )
        )
        await audit.record(
            ctx,
            action="case.note_added",
            organisation_id=UUID(str(case["organisation"])),
            subject_type="case",
            subject_id=case_id,
            detail={"note": str(note_id)},
        )
    return note_id


async def case_notes(ctx: TenantContext, case: dict[str, Any]) -> list[Note]:
    """The notes of a case row from `cases.access_case` (inside its transaction)."""
    require_transaction(ctx)
    rows = (
        await scoped(
            CaseNote.select(
                CaseNote.id,
                CaseNote.body,
                CaseNote.created_at,
                CaseNote.staff_user.display_name.as_alias("author"),
            ),
            CaseNote,
            ctx,
        )
        .where(CaseNote.case == case["id"])
        .order_by(CaseNote.created_at)
    )
    sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
    return [
        Note(
            id=UUID(str(row["id"])),
            author=row["author"] or "",
            body=sealer.open("note.body", UUID(str(row["id"])), row["body"]),
            created_at=row["created_at"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class TimelineEntry:
    occurred_at: datetime
    action: str
    actor: str  # counsellor, reporter, system
    detail: dict[str, Any]


async def timeline(ctx: TenantContext, case: dict[str, Any]) -> list[TimelineEntry]:
    """What happened to the case, oldest first, from the audit log (codes only; the case's
    bureau chain, which row-level security limits to the context's own anyway)."""
    require_transaction(ctx)
    entries = []
    for row in (await _events(ctx, case))[-TIMELINE_LIMIT:]:
        actor = str(row["actor"])
        if actor == "reporter":
            kind = "reporter"
        elif actor.startswith("system"):
            kind = "system"
        else:
            kind = "counsellor"
        detail = row["detail"]
        if isinstance(detail, str):
            detail = json.loads(detail)
        entries.append(TimelineEntry(row["occurred_at"], row["action"], kind, detail or {}))
    return entries


async def _events(ctx: TenantContext, case: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await AuditEvent.select(
            AuditEvent.occurred_at, AuditEvent.action, AuditEvent.actor, AuditEvent.detail
        )
        .where(
            (AuditEvent.chain == str(case["bureau"]))
            & (AuditEvent.subject_type == "case")
            & (AuditEvent.subject_id == str(case["id"]))
        )
        .order_by(AuditEvent.seq)
    )
    return rows

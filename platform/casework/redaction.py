"""Redaction of passages in a report's answers or in messages, audited (REQUIREMENTS §5).

Masked (non-destructive): the passage is kept, sealed, in a `Redaction` row and shown as
`MASK` on the case page; lifting the mask removes the row. Destroyed: the answer or message
is re-sealed with the passage replaced by `REMOVED`, for good (nothing keeps the original).
The audit event names the target and the mode, never the passage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from casework import cases, sealing
from casework.tables import CaseReport, Message, Redaction
from klankbord import audit
from klankbord.errors import Invalid, NotFound
from klankbord.tenancy import TenantContext, require_transaction, scoped, tenant_transaction

MASK = "█████"
REMOVED = "[removed]"
PASSAGE_MAX = 2_000


@dataclass(frozen=True)
class Mask:
    id: UUID
    target: str
    passage: str = field(repr=False)


def masked(text: str, passages: Iterable[str]) -> str:
    for passage in sorted(passages, key=len, reverse=True):
        text = text.replace(passage, MASK)
    return text


async def _target_text(ctx: TenantContext, case: dict[str, Any], target: str) -> tuple[str, Any]:
    """The current text of the target, and how to store a new one."""
    sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
    kind, _, ident = target.partition(":")
    if kind == "answer":
        report = (
            await scoped(CaseReport.select(CaseReport.answers), CaseReport, ctx)
            .where(CaseReport.case == case["id"])
            .first()
        )
        if report is None:
            raise NotFound()
        answers = sealer.open_json("report.answers", case["id"], report["answers"])
        found = [item for item in answers if item.get("key") == ident]
        if not found:
            raise Invalid(code="target_unknown", fields={"redaction_target": "target_unknown"})

        async def store(new_text: str) -> None:
            found[0]["answer"] = new_text
            await scoped(
                CaseReport.update(
                    {CaseReport.answers: sealer.seal_json("report.answers", case["id"], answers)}
                ),
                CaseReport,
                ctx,
            ).where(CaseReport.case == case["id"])

        return str(found[0].get("answer", "")), store
    if kind == "message":
        try:
            message_id = UUID(ident)
        except ValueError:
            raise Invalid(
                code="target_unknown", fields={"redaction_target": "target_unknown"}
            ) from None
        row = (
            await scoped(Message.select(Message.body), Message, ctx)
            .where((Message.id == message_id) & (Message.case == case["id"]))
            .first()
        )
        if row is None:
            raise Invalid(code="target_unknown", fields={"redaction_target": "target_unknown"})

        async def store_message(new_text: str) -> None:
            await scoped(
                Message.update({Message.body: sealer.seal("message.body", message_id, new_text)}),
                Message,
                ctx,
            ).where(Message.id == message_id)

        return sealer.open("message.body", message_id, row["body"]), store_message
    raise Invalid(code="target_unknown", fields={"redaction_target": "target_unknown"})


async def redact(
    ctx: TenantContext, *, case_id: UUID, target: str, passage: str, destroy: bool
) -> None:
    if not passage.strip() or len(passage) > PASSAGE_MAX:
        raise Invalid(code="passage_required", fields={"redaction_passage": "passage_required"})
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        text, store = await _target_text(ctx, case, target)
        if passage not in text:
            raise Invalid(
                code="passage_not_found", fields={"redaction_passage": "passage_not_found"}
            )
        if destroy:
            await store(text.replace(passage, REMOVED))
        else:
            redaction_id = uuid4()
            sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
            await Redaction.insert(
                Redaction(
                    id=redaction_id,
                    case=case_id,
                    organisation=case["organisation"],
                    bureau=case["bureau"],
                    target=target[:80],
                    passage=sealer.seal("redaction.passage", redaction_id, passage),
                    staff_user=ctx.staff_user_id,
                )
            )
        await audit.record(
            ctx,
            action="case.redacted",
            organisation_id=UUID(str(case["organisation"])),
            subject_type="case",
            subject_id=case_id,
            detail={
                "target": target.partition(":")[0],
                "mode": "destroyed" if destroy else "masked",
            },
        )


async def unmask(ctx: TenantContext, *, case_id: UUID, redaction_id: UUID) -> None:
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        where = (Redaction.id == redaction_id) & (Redaction.case == case_id)
        if not await scoped(Redaction.exists(), Redaction, ctx).where(where):
            raise NotFound()
        await scoped(Redaction.delete(), Redaction, ctx).where(where)
        await audit.record(
            ctx,
            action="case.unmasked",
            organisation_id=UUID(str(case["organisation"])),
            subject_type="case",
            subject_id=case_id,
        )


async def masks(ctx: TenantContext, case: dict[str, Any]) -> list[Mask]:
    require_transaction(ctx)
    rows = await scoped(Redaction.select(), Redaction, ctx).where(Redaction.case == case["id"])
    if not rows:
        return []
    sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
    return [
        Mask(
            id=UUID(str(row["id"])),
            target=row["target"],
            passage=sealer.open("redaction.passage", UUID(str(row["id"])), row["passage"]),
        )
        for row in rows
    ]

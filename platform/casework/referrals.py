"""Referral to a back-office actor (prevention adviser, social service, integrity
coordinator…), with a hand-off record: to whom, and what was shared. Only with the
reporter's consent (or a justified override) to the step "referral"; the record is sealed,
and marking it also marks the workflow step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID, uuid4

from casework import cases, consent, sealing
from casework.choices import CaseStatus
from casework.tables import Case, Referral
from casework.workflows import parse_steps, workflow
from klankbord import audit
from klankbord.errors import Conflict, Invalid
from klankbord.tenancy import TenantContext, require_transaction, scoped, tenant_transaction

ACTORS = (
    "prevention_adviser",
    "company_doctor",
    "social_service",
    "integrity_coordinator",
    "hr_department",
    "other",
)
TEXT_MAX = 5_000
STEP = "referral"


@dataclass(frozen=True)
class ReferralView:
    id: UUID
    actor: str
    recipient: str = field(repr=False)
    shared: str = field(repr=False)
    created_at: datetime


async def refer(
    ctx: TenantContext, *, case_id: UUID, actor: str, recipient: str, shared: str
) -> UUID:
    errors: dict[str, str] = {}
    if actor not in ACTORS:
        errors["referral_actor"] = "actor_required"
    for name, value in (("referral_recipient", recipient), ("referral_shared", shared)):
        if not value.strip():
            errors[name] = "text_required"
        elif len(value) > TEXT_MAX:
            errors[name] = "too_long"
    if errors:
        raise Invalid(code="referral_invalid", fields=errors)
    referral_id = uuid4()
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        if case["status"] == CaseStatus.CLOSED:
            raise Conflict(code="case_closed")
        if STEP not in workflow(str(case["procedure"])).steps:
            raise Invalid(code="step_unknown", fields={"step": "step_unknown"})
        if not await consent.may_take_step(ctx, case_id, STEP):
            raise Conflict(code="consent_required")
        sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
        await Referral.insert(
            Referral(
                id=referral_id,
                case=case_id,
                organisation=case["organisation"],
                bureau=case["bureau"],
                actor=actor,
                recipient=sealer.seal("referral.recipient", referral_id, recipient.strip()),
                shared=sealer.seal("referral.shared", referral_id, shared.strip()),
                staff_user=ctx.staff_user_id,
            )
        )
        done = parse_steps(str(case["steps"]))
        if STEP not in done:
            steps = workflow(str(case["procedure"])).steps
            ordered = [code for code in steps if code in {*done, STEP}]
            await scoped(
                Case.update({Case.steps: ",".join(ordered), Case.status: CaseStatus.IN_PROGRESS}),
                Case,
                ctx,
            ).where(Case.id == case_id)
        await audit.record(
            ctx,
            action="case.referred",
            organisation_id=UUID(str(case["organisation"])),
            subject_type="case",
            subject_id=case_id,
            detail={"actor": actor, "referral": str(referral_id)},
        )
    return referral_id


async def case_referrals(ctx: TenantContext, case: dict[str, object]) -> list[ReferralView]:
    require_transaction(ctx)
    rows = (
        await scoped(Referral.select(), Referral, ctx)
        .where(Referral.case == case["id"])
        .order_by(Referral.created_at)
    )
    sealer = await sealing.sealer(ctx, UUID(str(case["organisation"])))
    return [
        ReferralView(
            id=UUID(str(row["id"])),
            actor=row["actor"],
            recipient=sealer.open("referral.recipient", UUID(str(row["id"])), row["recipient"]),
            shared=sealer.open("referral.shared", UUID(str(row["id"])), row["shared"]),
            created_at=row["created_at"],
        )
        for row in rows
    ]

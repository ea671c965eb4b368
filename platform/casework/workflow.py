"""What a counsellor does with a case: categories, steps, closing with an outcome, reopening,
and opening a case for a phone call or a walk-in.

Every verb finds the case through `cases.access_case` (a counsellor of its organisation, else
not-found), checks the procedure's rules (`casework.workflows`), and writes an audit event with
codes only. An outward step (`CONSENT_STEPS`) is marked only after the reporter's consent or a
justified override (`casework.consent`), so neither the pages nor the API can record one
otherwise.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from uuid import UUID, uuid4

from casework import cases, clock_settings, consent, sealing
from casework.choices import Anonymity, CaseStatus, Channel, ReporterRole
from casework.tables import Case, CaseCategory, CaseReport
from casework.workflows import CONSENT_STEPS, parse_steps, workflow
from klankbord import audit
from klankbord.errors import Conflict, Invalid, NotFound
from klankbord.tenancy import Role, TenantContext, check_may_write, scoped, tenant_transaction
from tenants.access import access_organisation
from tenants.choices import Procedure

SUMMARY_MAX_CHARS = 20_000


async def _record(
    ctx: TenantContext, case: dict[str, object], action: str, **detail: object
) -> None:
    await audit.record(
        ctx,
        action=action,
        organisation_id=UUID(str(case["organisation"])),
        subject_type="case",
        subject_id=UUID(str(case["id"])),
        detail=dict(detail),
    )


def _open(case: dict[str, object]) -> None:
    if case["status"] == CaseStatus.CLOSED:
        raise Conflict(code="case_closed")


async def set_categories(
    ctx: TenantContext, *, case_id: UUID, codes: list[str], reporter_role: str | None = None
) -> None:
    """The case's categories, replacing the earlier ones (codes of its procedure only), and,
    when given, the reporter's role: what the annual report counts the case under."""
    chosen = sorted(set(codes))
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        allowed = workflow(str(case["procedure"])).categories
        if any(code not in allowed for code in chosen):
            raise Invalid(code="category_unknown", fields={"categories": "category_unknown"})
        if reporter_role is not None:
            if reporter_role not in set(ReporterRole):
                raise Invalid(code="role_unknown", fields={"reporter_role": "role_unknown"})
            await scoped(Case.update({Case.reporter_role: reporter_role}), Case, ctx).where(
                Case.id == case_id
            )
        await scoped(CaseCategory.delete(), CaseCategory, ctx).where(CaseCategory.case == case_id)
        if chosen:
            await CaseCategory.insert(
                *(
                    CaseCategory(
                        case=case_id,
                        organisation=case["organisation"],
                        bureau=case["bureau"],
                        code=code,
                        received_at=case["received_at"],
                    )
                    for code in chosen
                )
            )
        detail: dict[str, object] = {"categories": chosen}
        if reporter_role is not None:
            detail["reporter_role"] = reporter_role
        await _record(ctx, case, "case.categories_set", **detail)


async def categories(ctx: TenantContext, case_id: UUID) -> list[str]:
    rows = await scoped(CaseCategory.select(CaseCategory.code), CaseCategory, ctx).where(
        CaseCategory.case == case_id
    )
    return sorted(row["code"] for row in rows)


async def mark_step(ctx: TenantContext, *, case_id: UUID, step: str) -> None:
    """Record a workflow step as done. Outward steps need the reporter's consent first."""
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        _open(case)
        steps = workflow(str(case["procedure"])).steps
        if step not in steps:
            raise Invalid(code="step_unknown", fields={"step": "step_unknown"})
        if step == "referral":  # only with its hand-off record (`casework.referrals`)
            raise Conflict(code="referral_form")
        if step in CONSENT_STEPS and not await consent.may_take_step(ctx, case_id, step):
            raise Conflict(code="consent_required")
        done = parse_steps(str(case["steps"]))
        if step in done:
            raise Conflict(code="step_done")
        done = [code for code in steps if code in {*done, step}]
        await scoped(
            Case.update({Case.steps: ",".join(done), Case.status: CaseStatus.IN_PROGRESS}),
            Case,
            ctx,
        ).where(Case.id == case_id)
        await _record(ctx, case, "case.step_done", step=step)


async def close_case(ctx: TenantContext, *, case_id: UUID, outcome: str) -> None:
    """Close with an outcome of the procedure (statistics count it); no outcome, no closing."""
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        _open(case)
        if not outcome:
            raise Invalid(code="outcome_required", fields={"outcome": "outcome_required"})
        if outcome not in workflow(str(case["procedure"])).outcomes:
            raise Invalid(code="outcome_unknown", fields={"outcome": "outcome_unknown"})
        await scoped(
            Case.update(
                {
                    Case.status: CaseStatus.CLOSED,
                    Case.outcome: outcome,
                    Case.closed_at: datetime.now(UTC),
                    Case.next_due_at: None,
                }
            ),
            Case,
            ctx,
        ).where(Case.id == case_id)
        await _record(ctx, case, "case.closed", outcome=outcome)


async def reopen_case(ctx: TenantContext, *, case_id: UUID) -> None:
    """Back in progress (the outcome is kept until the case closes again)."""
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        if case["status"] != CaseStatus.CLOSED:
            raise Conflict(code="case_not_closed")
        await scoped(
            Case.update({Case.status: CaseStatus.IN_PROGRESS, Case.closed_at: None}), Case, ctx
        ).where(Case.id == case_id)
        await _record(ctx, case, "case.reopened")


async def open_case(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    procedure: str,
    channel: str,
    summary: str,
    received_at: datetime | None = None,
) -> UUID:
    """A case for a phone call or a walk-in, opened by a counsellor of the organisation. It has
    no receipt code (the counsellor and the reporter talk directly); the counsellor's summary
    is the report."""
    text = summary.strip()
    errors: dict[str, str] = {}
    if channel not in (Channel.PHONE, Channel.WALK_IN):
        errors["channel"] = "channel_unknown"
    if procedure not in {p.value for p in Procedure}:
        errors["procedure"] = "procedure_unknown"
    if not text:
        errors["summary"] = "summary_required"
    elif len(text) > SUMMARY_MAX_CHARS:
        errors["summary"] = "summary_too_long"
    moment = received_at or datetime.now(UTC)
    if moment > datetime.now(UTC):
        errors["received_at"] = "date_in_future"
    if errors:
        raise Invalid(code="case_invalid", fields=errors)
    case_id = uuid4()
    async with tenant_transaction(ctx):
        organisation = await access_organisation(ctx, organisation_id)
        if ctx.role_in(organisation_id) is not Role.COUNSELLOR:
            raise NotFound()
        if procedure not in str(organisation["procedures"]).split(","):
            raise Invalid(
                code="procedure_not_enabled", fields={"procedure": "procedure_not_enabled"}
            )
        check_may_write(ctx, bureau_id=organisation["bureau"], organisation_id=organisation_id)
        sealer = await sealing.sealer(ctx, organisation_id)
        next_due = await clock_settings.first_due(
            ctx,
            organisation_id=organisation_id,
            procedure=procedure,
            received_at=moment,
            channel=channel,
        )
        await Case.insert(
            Case(
                id=case_id,
                organisation=organisation_id,
                bureau=organisation["bureau"],
                procedure=procedure,
                channel=channel,
                status=CaseStatus.IN_PROGRESS,
                anonymity=Anonymity.CONFIDENTIAL,
                counsellor=ctx.staff_user_id,
                received_at=moment,
                reporter_active_at=moment,
                # No receipt code: values no code's keyed hash or argon2 hash can match.
                receipt_lookup=f"none:{secrets.token_hex(16)}",
                receipt_verifier="none",
                submission=f"none:{case_id}",
                reference=cases.new_reference(moment),
                next_due_at=next_due,
            )
        )
        await CaseReport.insert(
            CaseReport(
                case=case_id,
                organisation=organisation_id,
                bureau=organisation["bureau"],
                answers=sealer.seal_json(
                    "report.answers",
                    case_id,
                    [{"key": "summary", "label": "", "kind": "long_text", "answer": text}],
                ),
            )
        )
        await audit.record(
            ctx,
            action="case.opened",
            organisation_id=organisation_id,
            subject_type="case",
            subject_id=case_id,
            detail={"procedure": procedure, "channel": channel},
        )
    return case_id


async def link_case(ctx: TenantContext, *, case_id: UUID, reference: str) -> UUID:
    """Link the case to an earlier one of the same organisation, found by its reference (a
    reporter who lost the code and reported again; a rehabilitation after a closed case)."""
    wanted = reference.strip().upper()
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        other = (
            await scoped(Case.select(Case.id), Case, ctx)
            .where(
                (Case.organisation == case["organisation"])
                & (Case.reference == wanted)
                & (Case.id != case_id)
            )
            .first()
        )
        if other is None:
            raise Invalid(code="reference_unknown", fields={"reference": "reference_unknown"})
        other_id = UUID(str(other["id"]))
        await scoped(Case.update({Case.linked_case: other_id}), Case, ctx).where(Case.id == case_id)
        await _record(ctx, case, "case.linked", linked_case=str(other_id))
    return other_id


async def set_legal_hold(ctx: TenantContext, *, case_id: UUID, on: bool) -> None:
    """A legal hold keeps the case from any deletion until it is lifted."""
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        await scoped(Case.update({Case.legal_hold: on}), Case, ctx).where(Case.id == case_id)
        await _record(ctx, case, "case.legal_hold", on=on)

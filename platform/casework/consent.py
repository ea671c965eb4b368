"""The reporter is in control (REQUIREMENTS §4): no outward step without recorded consent.

Consent to a step is asked in the reporter's mailbox (the reporter answers there) or
recorded by the counsellor after a conversation (date and method). Without consent a step can
only be taken by an override for a legal duty or a conflict of duties, with an explanation;
the bureau admins are told, and so is the reporter unless that would endanger the
investigation. `workflow.mark_step` asks `may_take_step` before it marks any outward step, so
no page or API call can record one otherwise. The newest record for a step decides: a refusal
after a yes withdraws it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from casework import cases, sealing
from casework.choices import CaseStatus
from casework.intake import counsellors, notify_counsellors
from casework.tables import Case, Consent
from casework.workflows import CONSENT_STEPS, workflow
from klankbord import audit, mail
from klankbord.errors import Conflict, Invalid, NotFound
from klankbord.settings import Settings
from klankbord.tenancy import TenantContext, require_transaction, scoped, tenant_transaction
from tenants.tables import StaffUser

JUSTIFICATIONS = ("legal_duty", "conflict_of_duties")
EXPLANATION_MIN, EXPLANATION_MAX = 20, 5_000
REQUESTED, GIVEN, REFUSED, OVERRIDDEN = "requested", "given", "refused", "overridden"


@dataclass(frozen=True)
class ConsentView:
    id: UUID
    step: str
    status: str
    method: str
    asked_at: datetime
    answered_at: datetime | None
    conversation_on: date | None
    justification: str


def _check_step(case: dict[str, Any], step: str) -> None:
    if case["status"] == CaseStatus.CLOSED:
        raise Conflict(code="case_closed")
    if step not in CONSENT_STEPS or step not in workflow(str(case["procedure"])).steps:
        raise Invalid(code="step_unknown", fields={"step": "step_unknown"})


async def _latest(ctx: TenantContext, case_id: UUID, step: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await scoped(Consent.select(), Consent, ctx)
        .where((Consent.case == case_id) & (Consent.step == step))
        .order_by(Consent.asked_at, ascending=False)
        .first()
    )
    return row


async def may_take_step(ctx: TenantContext, case_id: UUID, step: str) -> bool:
    """Whether the newest record for `step` is a yes (given) or an override."""
    require_transaction(ctx)
    latest = await _latest(ctx, case_id, step)
    return latest is not None and latest["status"] in (GIVEN, OVERRIDDEN)


async def _insert(ctx: TenantContext, case: dict[str, Any], **values: Any) -> UUID:
    consent_id = values.pop("id", None) or uuid4()
    await Consent.insert(
        Consent(
            id=consent_id,
            case=case["id"],
            organisation=case["organisation"],
            bureau=case["bureau"],
            **values,
        )
    )
    return UUID(str(consent_id))


async def request_consent(
    settings: Settings, ctx: TenantContext, *, case_id: UUID, step: str
) -> UUID:
    """Ask the reporter in the mailbox (an e-mail alert, without content, if they want one)."""
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        _check_step(case, step)
        latest = await _latest(ctx, case_id, step)
        if latest is not None and latest["status"] == REQUESTED:
            raise Conflict(code="consent_pending")
        consent_id = await _insert(
            ctx, case, step=step, status=REQUESTED, method="mailbox", staff_user=ctx.staff_user_id
        )
        await _record(ctx, case, "consent.requested", step=step)
        await _alert_reporter(settings, ctx, case, dedupe=f"consent:{consent_id}")
    return consent_id


async def record_conversation(
    ctx: TenantContext, *, case_id: UUID, step: str, given: bool, conversation_on: date
) -> UUID:
    """The reporter's yes or no in a conversation, recorded by the counsellor."""
    today = datetime.now(UTC).date()
    if conversation_on > today or conversation_on < today - timedelta(days=366):
        raise Invalid(code="date_invalid", fields={"conversation_on": "date_invalid"})
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        _check_step(case, step)
        consent_id = await _insert(
            ctx,
            case,
            step=step,
            status=GIVEN if given else REFUSED,
            method="conversation",
            staff_user=ctx.staff_user_id,
            conversation_on=conversation_on,
            answered_at=datetime.now(UTC),
        )
        await _record(ctx, case, "consent.recorded", step=step, given=given)
    return consent_id


async def override(
    settings: Settings,
    ctx: TenantContext,
    *,
    case_id: UUID,
    step: str,
    justification: str,
    explanation: str,
    endangers_investigation: bool,
) -> UUID:
    """A step without consent, for a legal duty or a conflict of duties only."""
    errors: dict[str, str] = {}
    if justification not in JUSTIFICATIONS:
        errors["justification"] = "justification_required"
    text = explanation.strip()
    if len(text) < EXPLANATION_MIN:
        errors["explanation"] = "explanation_required"
    elif len(text) > EXPLANATION_MAX:
        errors["explanation"] = "too_long"
    if errors:
        raise Invalid(code="override_invalid", fields=errors)
    async with tenant_transaction(ctx):
        case = await cases.access_case(ctx, case_id)
        _check_step(case, step)
        consent_id = uuid4()
        sealer = await sealing.sealer(ctx, case["organisation"])
        await _insert(
            ctx,
            case,
            id=consent_id,
            step=step,
            status=OVERRIDDEN,
            method="override",
            staff_user=ctx.staff_user_id,
            justification=justification,
            explanation=sealer.seal("consent.explanation", consent_id, text),
            reporter_told=not endangers_investigation,
            answered_at=datetime.now(UTC),
        )
        await _record(
            ctx,
            case,
            "consent.overridden",
            step=step,
            justification=justification,
            reporter_told=not endangers_investigation,
        )
        await _notify_admins(settings, ctx, case, consent_id)
        if not endangers_investigation:
            await _alert_reporter(settings, ctx, case, dedupe=f"override:{consent_id}")
    return consent_id


async def consents(ctx: TenantContext, case_id: UUID) -> list[ConsentView]:
    require_transaction(ctx)
    rows = (
        await scoped(Consent.select(), Consent, ctx)
        .where(Consent.case == case_id)
        .order_by(Consent.asked_at)
    )
    return [_view(row) for row in rows]


def _view(row: dict[str, Any]) -> ConsentView:
    return ConsentView(
        id=UUID(str(row["id"])),
        step=row["step"],
        status=row["status"],
        method=row["method"],
        asked_at=row["asked_at"],
        answered_at=row["answered_at"],
        conversation_on=row["conversation_on"],
        justification=row["justification"],
    )


# --- the reporter's side ------------------------------------------------------------------


async def open_requests(ctx: TenantContext) -> list[ConsentView]:
    """The questions waiting for the reporter of the (bound) case, and the overrides they
    are told about."""
    require_transaction(ctx)
    rows = await scoped(Consent.select(), Consent, ctx).order_by(Consent.asked_at)
    return [
        _view(row)
        for row in rows
        if row["status"] == REQUESTED or (row["status"] == OVERRIDDEN and row["reporter_told"])
    ]


async def answer(settings: Settings, ctx: TenantContext, *, consent_id: UUID, yes: bool) -> None:
    """The reporter's answer in the mailbox; the counsellors get a notice without content."""
    async with tenant_transaction(ctx):
        row = await scoped(Consent.select(), Consent, ctx).where(Consent.id == consent_id).first()
        if row is None:
            raise NotFound()
        if row["status"] != REQUESTED:
            raise Conflict(code="consent_answered")
        await scoped(
            Consent.update(
                {Consent.status: GIVEN if yes else REFUSED, Consent.answered_at: datetime.now(UTC)}
            ),
            Consent,
            ctx,
        ).where(Consent.id == consent_id)
        case = await scoped(Case.select(), Case, ctx).where(Case.id == row["case"]).first()
        assert case is not None
        # An answer is the reporter's activity: no deletion within 7 days of it.
        await scoped(Case.update({Case.reporter_active_at: datetime.now(UTC)}), Case, ctx).where(
            Case.id == row["case"]
        )
        await _record(ctx, case, "consent.answered", step=row["step"], given=yes)
        await notify_counsellors(
            settings,
            await counsellors(ctx),
            chosen=case["counsellor"],
            case_id=case["id"],
            bureau_id=case["bureau"],
            kind="message",
            dedupe=f":consent:{consent_id}",
        )


# --- telling people -------------------------------------------------------------------------


async def _record(ctx: TenantContext, case: dict[str, Any], action: str, **detail: Any) -> None:
    await audit.record(
        ctx,
        action=action,
        organisation_id=UUID(str(case["organisation"])),
        subject_type="case",
        subject_id=UUID(str(case["id"])),
        detail=detail,
    )


async def _alert_reporter(
    settings: Settings, ctx: TenantContext, case: dict[str, Any], *, dedupe: str
) -> None:
    if not case["alert_address"]:
        return
    sealer = await sealing.sealer(ctx, case["organisation"])
    address = sealer.open("case.alert_address", case["id"], case["alert_address"])
    _ = mail.translator(settings, case["language"])
    body = "\n\n".join(
        [
            _("There is news for you. Open your mailbox with your receipt code."),
            _("This e-mail contains nothing else, for your safety."),
        ]
    )
    await mail.enqueue(
        address, _("There is news for you"), body + "\n", bureau=case["bureau"], dedupe_key=dedupe
    )


async def _notify_admins(
    settings: Settings, ctx: TenantContext, case: dict[str, Any], consent_id: UUID
) -> None:
    admins = await scoped(
        StaffUser.select(StaffUser.email, StaffUser.language), StaffUser, ctx
    ).where(
        (StaffUser.bureau == case["bureau"])
        & (StaffUser.is_bureau_admin == True)  # noqa: E712
        & (StaffUser.active == True)  # noqa: E712
    )
    for admin in admins:
        _ = mail.translator(settings, admin["language"])
        body = "\n\n".join(
            [
                _(
                    "A counsellor took an outward step without the reporter's consent, citing "
                    "a legal duty or a conflict of duties, in case %(reference)s.",
                    reference=case["reference"],
                ),
                _("The justification is recorded with the case. Sign in to review it:"),
                f"{settings.base_url}/sign-in",
            ]
        )
        await mail.enqueue(
            admin["email"],
            _("Outward step without consent"),
            body + "\n",
            bureau=case["bureau"],
            dedupe_key=f"override-admin:{consent_id}:{admin['email']}"[:128],
        )

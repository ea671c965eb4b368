"""A report through an intake link: what the page shows, and the atomic submission.

`submit` stores the case, its report and its attachment rows in ONE reporter transaction, with
the audit event and the counsellors' notices: either all of it is there and the receipt code
is shown, or none of it is (the route then removes the attachment blobs it staged). The
receipt code is hashed (argon2id, in the bounded pool) before the transaction opens, so a
slow hash never holds a database lock.

A retried or double-clicked submit carries the same submission id (the form token): the unique
index on (organisation, submission) lets exactly one case exist. The receipt code is derived
from the submission id under the server key (`receipts.code_from_seed`) and the case keeps
only a keyed hash of the submission id, so the retry gets the same code back without the code
being stored anywhere, for as long as it is pending (`PENDING_FOR`, or until the reporter
confirms having saved it). After that, a retry learns that the report was received, not the
code: the code is shown once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from markupsafe import Markup

from casework import attachments, clock_settings, sealing
from casework.cases import new_reference
from casework.choices import Anonymity, Author, MeetingRequest
from casework.recipients import first_in_line
from casework.tables import Case, CaseReport
from klankbord import audit, mail
from klankbord.errors import Invalid
from klankbord.markdown import render_markdown
from klankbord.receipts import code_from_seed, issue_receipt_code
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
from klankbord.tenancy import TenantContext, check_may_write, scoped, tenant_transaction
from tenants import procedure_texts
from tenants.choices import AnonymityMode, MembershipRole, Procedure
from tenants.intake_links import ReporterLink
from tenants.tables import Membership

log = logging.getLogger(__name__)

PENDING_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class Counsellor:
    id: UUID
    name: str


@dataclass(frozen=True)
class IntakeView:
    counsellors: list[Counsellor]
    procedure_text: Markup
    anonymity_choices: tuple[Anonymity, ...]


def anonymity_choices(mode: str) -> tuple[Anonymity, ...]:
    """What the reporter may choose on a link with this anonymity mode."""
    if mode == AnonymityMode.ANONYMOUS:
        return (Anonymity.ANONYMOUS,)
    if mode == AnonymityMode.CONFIDENTIAL:
        return (Anonymity.CONFIDENTIAL,)
    return (Anonymity.ANONYMOUS, Anonymity.CONFIDENTIAL)


async def intake_view(link: ReporterLink, *, language: str) -> IntakeView:
    ctx = link.context()
    async with tenant_transaction(ctx):
        staff = await counsellors(ctx)
        text = await procedure_texts.text_for(
            ctx,
            organisation_id=_organisation(link),
            procedure=Procedure(link.procedure),
            language=language,
        )
    return IntakeView(
        counsellors=[Counsellor(row["id"], row["name"]) for row in staff],
        procedure_text=render_markdown(text.body),
        anonymity_choices=anonymity_choices(link.anonymity),
    )


async def counsellors(ctx: TenantContext) -> list[dict[str, Any]]:
    rows = (
        await scoped(
            Membership.select(
                Membership.staff_user.as_alias("id"),
                Membership.staff_user.display_name.as_alias("name"),
                Membership.staff_user.email.as_alias("email"),
                Membership.staff_user.language.as_alias("language"),
                Membership.assignment,
            ),
            Membership,
            ctx,
        )
        .where(Membership.role == MembershipRole.COUNSELLOR)
        .where(Membership.staff_user.active == True)  # noqa: E712
        .order_by(Membership.assignment)
        .order_by(Membership.staff_user.display_name)
    )
    for row in rows:
        row["id"] = UUID(str(row["id"]))
    return rows


def _organisation(link: ReporterLink) -> UUID:
    return link.organisation


# --- the submission -------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A checked, complete intake form (the route has validated every field)."""

    link: ReporterLink
    submission: str
    language: str
    anonymity: Anonymity
    asked: list[dict[str, str]] = field(repr=False)
    counsellor_id: UUID | None = None
    meeting: MeetingRequest = MeetingRequest.NONE
    identity: dict[str, str] | None = field(default=None, repr=False)
    alert_address: str | None = field(default=None, repr=False)
    files: Sequence[attachments.ReadyFile] = ()


@dataclass(frozen=True)
class Receipt:
    case_id: UUID
    code: str | None = field(repr=False)  # None: already shown and confirmed (or expired)
    repeated: bool = False  # an earlier request with the same submission made the case


def submission_key(box: SecretBox, link: ReporterLink, submission: str) -> str:
    """What the case stores of the submission id (the id itself would give the code away)."""
    return box.keyed_hash("intake-submission", f"{link.link_id}:{submission}")


async def submit(settings: Settings, box: SecretBox, form: Submission) -> Receipt:
    """Store the report; its receipt. A repeat of the same submission returns the first."""
    earlier = await receipt_for(box, form.link, form.submission)
    if earlier is not None:
        return earlier
    issued = await issue_receipt_code(box, seed=form.submission)
    ctx = form.link.context()
    case_id = uuid4()
    try:
        async with tenant_transaction(ctx):
            await _store(
                settings,
                ctx,
                form,
                case_id=case_id,
                issued=issued,
                key=submission_key(box, form.link, form.submission),
            )
    except Exception:
        # The one expected failure is the race of a double click: the other request's case
        # holds the submission id. Anything else is re-raised (and nothing was stored).
        earlier = await receipt_for(box, form.link, form.submission)
        if earlier is None:
            raise
        return earlier
    return Receipt(case_id=case_id, code=issued.code)


async def _store(
    settings: Settings,
    ctx: TenantContext,
    form: Submission,
    *,
    case_id: UUID,
    issued: Any,
    key: str,
) -> None:
    link = form.link
    organisation_id = _organisation(link)
    check_may_write(ctx, bureau_id=link.bureau_id, organisation_id=organisation_id)
    staff = await counsellors(ctx)
    if form.counsellor_id is not None and form.counsellor_id not in {row["id"] for row in staff}:
        raise Invalid(code="counsellor_unknown", fields={"counsellor": "counsellor_unknown"})
    sealer = await sealing.sealer(ctx, organisation_id)
    now = datetime.now(UTC)
    next_due = await clock_settings.first_due(
        ctx, organisation_id=organisation_id, procedure=link.procedure, received_at=now
    )
    await Case.insert(
        Case(
            id=case_id,
            organisation=organisation_id,
            bureau=link.bureau_id,
            intake_link=link.link_id,
            procedure=link.procedure,
            anonymity=form.anonymity,
            counsellor=form.counsellor_id,
            meeting=form.meeting,
            language=form.language,
            received_at=now,
            reporter_active_at=now,
            reference=new_reference(now),
            next_due_at=next_due,
            receipt_lookup=issued.lookup_key,
            receipt_verifier=issued.verifier,
            submission=key,
            pending_until=now + PENDING_FOR,
            alert_address=(
                sealer.seal("case.alert_address", case_id, form.alert_address)
                if form.alert_address
                else None
            ),
        )
    )
    report_id = uuid4()
    identity = form.identity if form.anonymity is Anonymity.CONFIDENTIAL else None
    await CaseReport.insert(
        CaseReport(
            id=report_id,
            case=case_id,
            organisation=organisation_id,
            bureau=link.bureau_id,
            answers=sealer.seal_json("report.answers", case_id, form.asked),
            identity=sealer.seal_json("report.identity", case_id, identity) if identity else None,
        )
    )
    await attachments.save_attachments(
        ctx, sealer, case_id=case_id, message_id=None, author=Author.REPORTER, files=form.files
    )
    await audit.record(
        ctx,
        action="case.received",
        organisation_id=organisation_id,
        subject_type="case",
        subject_id=case_id,
        detail={
            "procedure": link.procedure,
            "channel": "online",
            "anonymity": form.anonymity.value,
            "attachments": len(form.files),
            "meeting": form.meeting.value or "none",
        },
    )
    await notify_counsellors(
        settings,
        staff,
        chosen=form.counsellor_id,
        case_id=case_id,
        bureau_id=link.bureau_id,
        kind="report",
    )


async def notify_counsellors(
    settings: Settings,
    staff: list[dict[str, Any]],
    *,
    chosen: UUID | None,
    case_id: UUID,
    bureau_id: UUID | None,
    kind: str,
    dedupe: str = "",
) -> int:
    """Tell the case's counsellors that something came in, through the outbox, with no
    content: no organisation, no procedure, no words of the reporter; a link to sign in.
    To the chosen counsellor if any, else the primary ones (else every counsellor)."""
    for row in first_in_line(staff, chosen):
        _ = mail.translator(settings, row["language"])
        if kind == "report":
            subject = _("New report in Klankbord")
            lead = _("A new report has come in for you in Klankbord.")
        else:
            subject = _("New message in Klankbord")
            lead = _("A reporter has sent you a new message in Klankbord.")
        body = "\n\n".join(
            [
                lead,
                _("Sign in to read it:"),
                f"{settings.base_url}/sign-in",
                _("For the reporter's safety this e-mail contains nothing of the report."),
            ]
        )
        await mail.enqueue(
            row["email"],
            subject,
            body + "\n",
            bureau=bureau_id,
            dedupe_key=f"{kind}:{case_id}:{row['id']}{dedupe}"[:128],
        )
    return len(first_in_line(staff, chosen))


# --- the receipt ------------------------------------------------------------------------------


async def receipt_for(box: SecretBox, link: ReporterLink, submission: str) -> Receipt | None:
    """The case this submission made, with its code while it is pending; None: no case."""
    ctx = link.context()
    key = submission_key(box, link, submission)
    async with tenant_transaction(ctx):
        row = (
            await scoped(Case.select(Case.id, Case.pending_until), Case, ctx)
            .where(Case.submission == key)
            .first()
        )
    if row is None:
        return None
    pending = row["pending_until"] is not None and row["pending_until"] > datetime.now(UTC)
    return Receipt(
        case_id=UUID(str(row["id"])),
        code=code_from_seed(box, submission) if pending else None,
        repeated=True,
    )


async def confirm_saved(box: SecretBox, link: ReporterLink, submission: str) -> bool:
    """The reporter has saved the code: a retry no longer shows it. Whether there was a case."""
    ctx = link.context()
    key = submission_key(box, link, submission)
    async with tenant_transaction(ctx):
        found = await scoped(Case.exists(), Case, ctx).where(Case.submission == key)
        if found:
            await scoped(Case.update({Case.pending_until: None}), Case, ctx).where(
                Case.submission == key
            )
    return bool(found)

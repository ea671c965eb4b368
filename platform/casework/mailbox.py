"""The reporter's secure mailbox: sign in with the receipt code, read and send messages.

Sign-in counts the attempt (per intake link and overall) before any work, then finds the
case by the code's keyed hash through the link's organisation only (a code of another
organisation finds nothing here) and verifies it with argon2id; a wrong code, an unknown code
and garbage get the same answer after the same work (`klankbord.receipts`). A good code opens
a short session: a random token in a cookie limited to the link's path, its keyed hash here,
30 minutes idle and 4 hours at most. The session's context is a reporter context bound to the
case, so every query of the mailbox sees that one case's rows (and PostgreSQL checks it again).

Counsellors' replies (`reply_to_reporter`) land here too; the reporter's optional e-mail alert
says only that there is news.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from casework import attachments, clock_settings, clocks, consent, sealing
from casework.choices import Author
from casework.intake import counsellors, notify_counsellors
from casework.tables import Case, Message, ReporterSession
from klankbord import audit, mail, receipts
from klankbord.errors import DomainError, Invalid, NotFound
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
from klankbord.tenancy import (
    Role,
    TenantContext,
    check_may_write,
    require_transaction,
    scoped,
    tenant_transaction,
    with_case,
)
from tenants.intake_links import ReporterLink

SESSION_IDLE = timedelta(minutes=30)
SESSION_MAX = timedelta(hours=4)
MESSAGE_MAX_CHARS = 20_000
ADDRESS_MAX_CHARS = 254


class TooManyAttempts(DomainError):
    code = "mailbox_attempts"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(code=self.code)
        self.retry_after = retry_after


class WrongCode(DomainError):
    """A wrong code, an unknown code and no code at all: one answer."""

    code = "receipt_code_wrong"
    status = 422


def _token_hash(box: SecretBox, token: str) -> str:
    return box.keyed_hash("mailbox-session", token)


async def sign_in(box: SecretBox, link: ReporterLink, typed: str) -> str:
    """A new session token for the case the code opens through this link."""
    assert link.link_id is not None
    decision = await receipts.mailbox_attempt(link_id=link.link_id, box=box)
    if not decision.allowed:
        raise TooManyAttempts(decision.retry_after)
    code = receipts.normalise(typed)
    ctx = link.context()
    row = None
    if code is not None:
        async with tenant_transaction(ctx):
            row = (
                await scoped(Case.select(Case.id, Case.receipt_verifier), Case, ctx)
                .where(Case.receipt_lookup == receipts.lookup_key(box, code))
                .first()
            )
    if not await receipts.verify(typed, row["receipt_verifier"] if row else None):
        raise WrongCode()
    assert row is not None
    case_ctx = with_case(ctx, UUID(str(row["id"])))
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    async with tenant_transaction(ctx):
        # Sessions that ran out are removed here, a sign-in at a time, within the organisation
        # (a job would need a system context, and an audit event, on every run).
        await scoped(ReporterSession.delete(), ReporterSession, ctx).where(
            (ReporterSession.expires_at <= now)
            | (ReporterSession.last_seen_at <= now - SESSION_IDLE)
        )
    async with tenant_transaction(case_ctx):
        check_may_write(case_ctx, bureau_id=link.bureau_id, organisation_id=link.organisation_id)
        await ReporterSession.insert(
            ReporterSession(
                token_hash=_token_hash(box, token),
                case=row["id"],
                organisation=link.organisation_id,
                bureau=link.bureau_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + SESSION_MAX,
            )
        )
        # The code has been used: a retried intake form no longer shows it.
        await scoped(Case.update({Case.pending_until: None}), Case, case_ctx)
    return token


@dataclass(frozen=True)
class Session:
    ctx: TenantContext
    case_id: UUID
    token_hash: str = field(repr=False)
    link: ReporterLink


async def open_session(box: SecretBox, link: ReporterLink, token: str | None) -> Session | None:
    """The open mailbox behind a session cookie, or None (absent, unknown, expired, idle)."""
    if not token or len(token) > 100:
        return None
    ctx = link.context()
    token_hash = _token_hash(box, token)
    now = datetime.now(UTC)
    async with tenant_transaction(ctx):
        row = (
            await scoped(
                ReporterSession.select(
                    ReporterSession.id,
                    ReporterSession.case,
                    ReporterSession.last_seen_at,
                    ReporterSession.expires_at,
                ),
                ReporterSession,
                ctx,
            )
            .where(ReporterSession.token_hash == token_hash)
            .first()
        )
        if row is None:
            return None
        if row["expires_at"] <= now or row["last_seen_at"] + SESSION_IDLE <= now:
            await scoped(ReporterSession.delete(), ReporterSession, ctx).where(
                ReporterSession.id == row["id"]
            )
            return None
        await scoped(
            ReporterSession.update({ReporterSession.last_seen_at: now}), ReporterSession, ctx
        ).where(ReporterSession.id == row["id"])
    case_id = UUID(str(row["case"]))
    return Session(ctx=with_case(ctx, case_id), case_id=case_id, token_hash=token_hash, link=link)


async def sign_out(session: Session) -> None:
    async with tenant_transaction(session.ctx):
        await scoped(ReporterSession.delete(), ReporterSession, session.ctx).where(
            ReporterSession.token_hash == session.token_hash
        )


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadMessage:
    id: UUID
    author: str
    body: str = field(repr=False)
    created_at: datetime
    files: list[Any]


@dataclass(frozen=True)
class MailboxView:
    status: str
    procedure: str
    received_at: datetime
    deadlines: clocks.Deadlines
    report_files: list[Any]
    messages: list[ThreadMessage]
    alert_on: bool
    unread: int
    questions: list[Any]  # consent requests waiting for an answer, overrides told


async def mailbox_view(session: Session) -> MailboxView:
    """The case as the reporter sees it; counsellor messages shown here count as read."""
    ctx = session.ctx
    async with tenant_transaction(ctx):
        case = await _case(ctx, session.case_id)
        sealer = await sealing.sealer(ctx, case["organisation"])
        rows = await scoped(Message.select(), Message, ctx).order_by(Message.created_at)
        files = await attachments.list_attachments(ctx, sealer, case_id=session.case_id)
        questions = await consent.open_requests(ctx)
        rules, country = await clock_settings.organisation_rules(ctx, case["organisation"])
        unread = [
            row["id"] for row in rows if row["author"] == Author.COUNSELLOR and not row["read_at"]
        ]
        if unread:
            await scoped(Message.update({Message.read_at: datetime.now(UTC)}), Message, ctx).where(
                Message.id.is_in(unread)
            )
    by_message: dict[Any, list[Any]] = {}
    for item in files:
        by_message.setdefault(item.message_id, []).append(item)
    messages = [
        ThreadMessage(
            id=UUID(str(row["id"])),
            author=row["author"],
            body=sealer.open("message.body", UUID(str(row["id"])), row["body"]),
            created_at=row["created_at"],
            files=by_message.get(row["id"], []) + by_message.get(UUID(str(row["id"])), []),
        )
        for row in rows
    ]
    return MailboxView(
        status=case["status"],
        procedure=case["procedure"],
        received_at=case["received_at"],
        deadlines=clocks.deadlines(case["received_at"], case["acknowledged_at"], rules, country),
        report_files=by_message.get(None, []),
        messages=messages,
        alert_on=bool(case["alert_address"]),
        unread=len(unread),
        questions=questions,
    )


async def _case(ctx: TenantContext, case_id: UUID) -> dict[str, Any]:
    require_transaction(ctx)
    row = await scoped(Case.select(), Case, ctx).where(Case.id == case_id).first()
    if row is None:
        raise NotFound()
    return row


# --- writing --------------------------------------------------------------------------------


def check_message(text: str) -> str:
    body = text.strip()
    if not body:
        raise Invalid(code="message_empty", fields={"body": "message_empty"})
    if len(body) > MESSAGE_MAX_CHARS:
        raise Invalid(code="message_too_long", fields={"body": "message_too_long"})
    return body


async def post_message(
    settings: Settings, session: Session, text: str, files: Sequence[attachments.ReadyFile] = ()
) -> UUID:
    """The reporter's message (with files) in one transaction, and the counsellors' notice."""
    body = check_message(text)
    ctx = session.ctx
    message_id = uuid4()
    now = datetime.now(UTC)
    async with tenant_transaction(ctx):
        case = await _case(ctx, session.case_id)
        check_may_write(ctx, bureau_id=case["bureau"], organisation_id=case["organisation"])
        sealer = await sealing.sealer(ctx, case["organisation"])
        await Message.insert(
            Message(
                id=message_id,
                case=session.case_id,
                organisation=case["organisation"],
                bureau=case["bureau"],
                author=Author.REPORTER,
                body=sealer.seal("message.body", message_id, body),
                created_at=now,
            )
        )
        await attachments.save_attachments(
            ctx,
            sealer,
            case_id=session.case_id,
            message_id=message_id,
            author=Author.REPORTER,
            files=files,
        )
        await scoped(Case.update({Case.reporter_active_at: now}), Case, ctx).where(
            Case.id == session.case_id
        )
        await notify_counsellors(
            settings,
            await counsellors(ctx),
            chosen=case["counsellor"],
            case_id=session.case_id,
            bureau_id=case["bureau"],
            kind="message",
            dedupe=f":{message_id}",
        )
    return message_id


async def set_alert(session: Session, *, on: bool, address: str = "") -> None:
    """Turn the e-mail alert on (stored sealed) or off. On with a blank address keeps the
    address already stored (the page never shows it back)."""
    value = address.strip()
    if (
        on
        and value
        and (
            len(value) > ADDRESS_MAX_CHARS
            or "@" not in value
            or any(character.isspace() for character in value)
        )
    ):
        raise Invalid(
            code="alert_address_invalid", fields={"alert_address": "alert_address_invalid"}
        )
    ctx = session.ctx
    async with tenant_transaction(ctx):
        case = await _case(ctx, session.case_id)
        if on and not value:
            if case["alert_address"]:
                return
            raise Invalid(
                code="alert_address_invalid", fields={"alert_address": "alert_address_invalid"}
            )
        sealed = None
        if on:
            sealer = await sealing.sealer(ctx, case["organisation"])
            sealed = sealer.seal("case.alert_address", session.case_id, value)
        await scoped(Case.update({Case.alert_address: sealed}), Case, ctx).where(
            Case.id == session.case_id
        )


# --- the counsellor's side (the case page arrives with casework) -------------------------------


async def reply_to_reporter(
    settings: Settings,
    ctx: TenantContext,
    *,
    case_id: UUID,
    text: str,
    files: Sequence[attachments.ReadyFile] = (),
) -> UUID:
    """A counsellor's message to the reporter's mailbox; an alert (no content) if asked for.
    Only a counsellor of the case's organisation may write; anyone else gets `NotFound`."""
    body = check_message(text)
    message_id = uuid4()
    async with tenant_transaction(ctx):
        case = await _case(ctx, case_id)
        if ctx.role_in(case["organisation"]) is not Role.COUNSELLOR:
            raise NotFound()
        sealer = await sealing.sealer(ctx, case["organisation"])
        await Message.insert(
            Message(
                id=message_id,
                case=case_id,
                organisation=case["organisation"],
                bureau=case["bureau"],
                author=Author.COUNSELLOR,
                staff_user=ctx.staff_user_id,
                body=sealer.seal("message.body", message_id, body),
            )
        )
        await attachments.save_attachments(
            ctx,
            sealer,
            case_id=case_id,
            message_id=message_id,
            author=Author.COUNSELLOR,
            files=files,
        )
        await audit.record(
            ctx,
            action="case.message_to_reporter",
            organisation_id=case["organisation"],
            subject_type="case",
            subject_id=case_id,
            detail={"message": str(message_id), "attachments": len(files)},
        )
        if case["alert_address"]:
            address = sealer.open("case.alert_address", case_id, case["alert_address"])
            _ = mail.translator(settings, case["language"])
            body_text = "\n\n".join(
                [
                    _("There is news for you. Open your mailbox with your receipt code."),
                    _("This e-mail contains nothing else, for your safety."),
                ]
            )
            await mail.enqueue(
                address,
                _("There is news for you"),
                body_text + "\n",
                bureau=case["bureau"],
                dedupe_key=f"alert:{message_id}",
            )
    return message_id

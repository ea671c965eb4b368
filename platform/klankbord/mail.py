"""Outgoing mail: an outbox row written with the change it reports, delivered by a job.

`enqueue` runs inside the caller's transaction, so a mail exists exactly when its change was
committed. `deliver_pending` (the `mail` job) sends due rows over SMTP, one at a time: a row
is claimed under `FOR UPDATE SKIP LOCKED` (PostgreSQL) with a lease, so several replicas never
send the same mail, then sent, marked sent, and its body erased: it may carry a single-use
link. A failure is retried with a growing delay, up to `MAX_ATTEMPTS`; then the mail stays
unsent for the operator. The recorded error names the failure, never the content; the log
holds counts and row ids only.

Rows hold recipients' addresses, so `purge_settled` (the `mail_purge` job) removes sent and
abandoned mail after `KEEP_SETTLED`.

Without an SMTP host (the embedded default) a development process prints the mail in full so
that a developer can follow its link. Production refuses to start without one (settings); a
test process leaves mail queued.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any, Literal
from uuid import UUID

from klankbord import database
from klankbord.settings import Settings
from klankbord.tables import MailOutbox

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(minutes=1)
CLAIM_LEASE = timedelta(minutes=10)  # a claimed mail is not due again before this
KEEP_SETTLED = timedelta(days=30)  # sent or abandoned mail (recipient, subject) is kept this long


# How one attempt ended: sent, failed for this mail only, or failed at the server (down,
# TLS, login), which every following mail would meet as well.
Attempt = Literal["sent", "mail", "server"]


@dataclass(frozen=True)
class Delivery:
    sent: int = 0
    failed: int = 0
    waiting: int = 0


async def enqueue(
    recipient: str,
    subject: str,
    body: str,
    *,
    dedupe_key: str | None = None,
    bureau: UUID | None = None,
) -> None:
    """Queue a mail in the open transaction; the same `dedupe_key` twice queues it once.

    The duplicate check is the unique index itself (`ON CONFLICT DO NOTHING`), so two
    transactions racing with one key never fail the caller's change.
    """
    if database.current_engine().current_transaction.get() is None:
        raise RuntimeError("enqueue mail inside the transaction of the change it reports")
    if any(character in recipient + subject for character in "\r\n"):
        # A line break in a header would fail every delivery attempt (or inject headers).
        raise ValueError("mail recipient and subject are single lines")
    await MailOutbox.insert(
        MailOutbox(
            recipient=recipient,
            subject=subject,
            body=body,
            dedupe_key=dedupe_key,
            bureau=bureau,
        )
    ).on_conflict(target=MailOutbox.dedupe_key, action="DO NOTHING")


def translator(settings: Settings, language: str) -> Callable[..., str]:
    """The plain-text `_` of a recipient's language (mail is not HTML: no escaping)."""
    from klankbord import i18n

    catalog = i18n.translations(settings.frontend_dir / "locales", language)
    return i18n.gettext_callables(catalog, autoescape=False)["gettext"]


async def queued_at(dedupe_keys: list[str]) -> dict[str, datetime]:
    """When the mails with these dedupe keys were queued (sent or not, until
    `purge_settled` removes them): for a job that must know a notice went out earlier."""
    if not dedupe_keys:
        return {}
    rows = await MailOutbox.select(MailOutbox.dedupe_key, MailOutbox.created_at).where(
        MailOutbox.dedupe_key.is_in(dedupe_keys)
    )
    return {row["dedupe_key"]: row["created_at"] for row in rows}


async def deliver_pending(
    settings: Settings, *, now: datetime | None = None, limit: int = 50
) -> Delivery:
    """Send up to `limit` due mails; safe to run in several processes at once."""
    # UTC always: SQLite compares the stored timestamps as text.
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if not settings.smtp_host and settings.environment != "development":
        waiting = await MailOutbox.count().where(_due(now))
        if waiting:
            log.warning("mail: %d waiting, no KLANKBORD_SMTP_HOST configured", waiting)
        return Delivery(waiting=waiting)
    sent = failed = 0
    for _ in range(limit):
        outcome = await _deliver_one(settings, now)
        if outcome is None:
            break
        if outcome == "sent":
            sent += 1
            continue
        failed += 1
        if outcome == "server":
            # The next mails would meet the same server: leave them their attempts, so that an
            # outage costs only the first mail in the queue its retries.
            break
    if sent or failed:
        log.info("mail: %d sent, %d failed", sent, failed)
    return Delivery(sent=sent, failed=failed)


def _due(now: datetime) -> Any:
    return (
        MailOutbox.sent_at.is_null()
        & (MailOutbox.send_after <= now)
        & (MailOutbox.attempts < MAX_ATTEMPTS)
    )


async def _deliver_one(settings: Settings, now: datetime) -> Attempt | None:
    """Claim, send and settle one due mail; None when nothing is due.

    The claim (attempts + 1, not due again for `CLAIM_LEASE`) commits before the SMTP
    conversation, so no database transaction or lock (the embedded SQLite engine has one per
    process) is held while a slow server answers. A process that dies mid-send leaves the
    claim to expire, and the mail is tried again: at least once, never lost.
    """
    engine = database.current_engine()
    async with engine.transaction():
        query = MailOutbox.select().where(_due(now)).order_by(MailOutbox.send_after).limit(1)
        if database.is_postgres(engine):
            query = query.lock_rows("UPDATE", skip_locked=True)
        rows = await query
        if not rows:
            return None
        row = rows[0]
        attempts = row["attempts"] + 1
        await MailOutbox.update(
            {MailOutbox.attempts: attempts, MailOutbox.send_after: now + CLAIM_LEASE}
        ).where(MailOutbox.id == row["id"])
    try:
        await asyncio.to_thread(_send, settings, row)
    except Exception as error:  # noqa: BLE001 - one bad mail or server must not stop the job
        # The type only: an SMTP reply or a header error may quote the address or content.
        problem = type(error).__name__[:120]
        async with engine.transaction():
            await MailOutbox.update(
                {
                    MailOutbox.last_error: problem,
                    MailOutbox.send_after: now + BASE_DELAY * 2 ** (attempts - 1),
                }
            ).where(MailOutbox.id == row["id"])
        if attempts >= MAX_ATTEMPTS:
            log.error("mail %s: not sent after %d attempts (%s)", row["id"], attempts, problem)
        else:
            log.warning("mail %s: attempt %d failed (%s)", row["id"], attempts, problem)
        # SMTPException is an OSError too; only these refusals concern this one mail.
        this_mail = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)
        if isinstance(error, OSError) and not isinstance(error, this_mail):
            return "server"
        return "mail"
    async with engine.transaction():
        await MailOutbox.update(
            {MailOutbox.sent_at: now, MailOutbox.body: "", MailOutbox.last_error: ""}
        ).where(MailOutbox.id == row["id"])
    return "sent"


async def purge_settled(*, now: datetime | None = None) -> int:
    """Remove mail sent, or abandoned, more than `KEEP_SETTLED` ago; the number removed."""
    cutoff = (now or datetime.now(UTC)).astimezone(UTC) - KEEP_SETTLED
    async with database.current_engine().transaction():
        removed = await (
            MailOutbox.delete()
            .where(
                (MailOutbox.created_at < cutoff)
                & (MailOutbox.sent_at.is_not_null() | (MailOutbox.attempts >= MAX_ATTEMPTS))
            )
            .returning(MailOutbox.id)
        )
    if removed:
        log.info("mail: %d sent or abandoned mails removed", len(removed))
    return len(removed)


def _message(settings: Settings, row: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message["Date"] = format_datetime(datetime.now(UTC))
    # The sender's domain: relays and spam filters distrust a Message-ID from nowhere.
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(row["body"])
    return message


def _send(settings: Settings, row: dict[str, Any]) -> None:
    message = _message(settings, row)
    if not settings.smtp_host:  # development only (see deliver_pending)
        # The body as written, not transfer-encoded: quoted-printable would break long links.
        headers = "".join(f"{name}: {message[name]}\n" for name in ("From", "To", "Subject"))
        sys.stdout.write(
            f"--- mail (not sent: no KLANKBORD_SMTP_HOST) ---\n{headers}\n{row['body']}\n---\n"
        )
        return
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_security == "ssl":
        smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=30, context=context)
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)

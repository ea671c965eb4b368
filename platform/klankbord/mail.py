"""Outgoing mail: an outbox row written with the change it reports, delivered by a job.

`enqueue` runs inside the caller's transaction, so a mail exists exactly when its change was
committed. `deliver_pending` (the `mail` job) sends due rows over SMTP, one at a time: a row
is claimed under `FOR UPDATE SKIP LOCKED` (PostgreSQL) with a lease, so several replicas never
send the same mail, then sent, marked sent, and its body erased: it may carry a single-use
link. A failure is retried with a growing delay, up to `MAX_ATTEMPTS`; the recorded error
names the failure, never the content.

Without an SMTP host (the embedded default) a development process prints the mail so that a
developer can follow its link; any other environment leaves it queued and logs a warning.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from uuid import UUID

from klankbord import database
from klankbord.settings import Settings
from klankbord.tables import MailOutbox

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(minutes=1)
CLAIM_LEASE = timedelta(minutes=10)  # a claimed mail is not due again before this


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
    """Queue a mail in the open transaction; the same `dedupe_key` twice queues it once."""
    if database.current_engine().current_transaction.get() is None:
        raise RuntimeError("enqueue mail inside the transaction of the change it reports")
    if dedupe_key is not None and await MailOutbox.exists().where(
        MailOutbox.dedupe_key == dedupe_key
    ):
        return
    await MailOutbox.insert(
        MailOutbox(
            recipient=recipient,
            subject=subject,
            body=body,
            dedupe_key=dedupe_key,
            bureau=bureau,
        )
    )


async def deliver_pending(
    settings: Settings, *, now: datetime | None = None, limit: int = 50
) -> Delivery:
    """Send up to `limit` due mails; safe to run in several processes at once."""
    now = now or datetime.now(UTC)
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
        sent, failed = (sent + 1, failed) if outcome else (sent, failed + 1)
    if sent or failed:
        log.info("mail: %d sent, %d failed", sent, failed)
    return Delivery(sent=sent, failed=failed)


def _due(now: datetime) -> Any:
    return (
        MailOutbox.sent_at.is_null()
        & (MailOutbox.send_after <= now)
        & (MailOutbox.attempts < MAX_ATTEMPTS)
    )


async def _deliver_one(settings: Settings, now: datetime) -> bool | None:
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
    except (OSError, smtplib.SMTPException) as error:
        async with engine.transaction():
            await MailOutbox.update(
                {
                    MailOutbox.last_error: type(error).__name__[:120],
                    MailOutbox.send_after: now + BASE_DELAY * 2 ** (attempts - 1),
                }
            ).where(MailOutbox.id == row["id"])
        log.warning("mail %s: attempt %d failed (%s)", row["id"], attempts, type(error).__name__)
        return False
    async with engine.transaction():
        await MailOutbox.update(
            {MailOutbox.sent_at: now, MailOutbox.body: "", MailOutbox.last_error: ""}
        ).where(MailOutbox.id == row["id"])
    return True


def _message(settings: Settings, row: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message["Message-ID"] = make_msgid(domain="klankbord")
    message.set_content(row["body"])
    return message


def _send(settings: Settings, row: dict[str, Any]) -> None:
    message = _message(settings, row)
    if not settings.smtp_host:  # development only (see deliver_pending)
        sys.stdout.write(f"--- mail (not sent: no KLANKBORD_SMTP_HOST) ---\n{message}\n---\n")
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

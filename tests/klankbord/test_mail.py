"""The mail outbox: queued with its change, delivered over real SMTP, retried, erased."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from klankbord import database, mail
from klankbord.settings import Settings
from klankbord.tables import MailOutbox
from tests.support.smtp import SmtpServer, free_port


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


def _settings(port: int, **changes) -> Settings:
    return dataclasses.replace(
        Settings(environment="test"),
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        mail_from="Klankbord <no-reply@example.org>",
        **changes,
    )


async def _rows() -> list[dict]:
    return await MailOutbox.select().order_by(MailOutbox.created_at)


async def test_mail_enqueued_then_delivered_and_body_erased(rollback, smtp):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "Open https://example.org/x/token")

    delivery = await mail.deliver_pending(_settings(smtp.port))

    assert delivery.sent == 1
    [message] = smtp.inbox.messages
    assert message["To"] == "anna@example.org"
    assert message["Subject"] == "Welkom"
    assert "https://example.org/x/token" in message.get_payload(decode=True).decode()
    [row] = await _rows()
    assert row["sent_at"] is not None
    assert row["body"] == ""
    assert (await mail.deliver_pending(_settings(smtp.port))).sent == 0  # never twice


async def test_mail_rolled_back_change_sends_nothing(engine, smtp):
    # A top-level transaction of its own (the `rollback` fixture's would swallow the inner one).
    database.use_engine(engine)

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with database.current_engine().transaction():
            await mail.enqueue("anna@example.org", "Welkom", "body")
            raise Abort

    assert await _rows() == []
    assert (await mail.deliver_pending(_settings(smtp.port))).sent == 0
    assert smtp.inbox.messages == []


async def test_mail_enqueue_outside_transaction_refused(rollback):
    # `rollback` holds a transaction; a fresh task sees none.
    import asyncio

    async def outside() -> None:
        token = database.current_engine().current_transaction.set(None)
        try:
            await mail.enqueue("anna@example.org", "Welkom", "body")
        finally:
            database.current_engine().current_transaction.reset(token)

    with pytest.raises(RuntimeError, match="inside the transaction"):
        await asyncio.create_task(outside())


async def test_mail_same_dedupe_key_sent_once(rollback, smtp):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Uitnodiging", "one", dedupe_key="invite:1")
        await mail.enqueue("anna@example.org", "Uitnodiging", "two", dedupe_key="invite:1")

    assert (await mail.deliver_pending(_settings(smtp.port))).sent == 1
    assert len(smtp.inbox.messages) == 1


async def test_mail_server_down_retried_after_backoff_without_content_in_error(rollback, smtp):
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "secret link", dedupe_key="k")
        await MailOutbox.update({MailOutbox.send_after: now}).where(MailOutbox.dedupe_key == "k")

    down = _settings(free_port())  # nothing listens there
    assert (await mail.deliver_pending(down, now=now)).failed == 1
    [row] = await _rows()
    assert row["attempts"] == 1
    assert row["sent_at"] is None
    assert row["last_error"] and "secret" not in row["last_error"]
    assert row["body"] == "secret link"  # kept for the next attempt

    # Not due again until the back-off has passed.
    assert await mail.deliver_pending(_settings(smtp.port), now=now) == mail.Delivery()
    later = now + mail.BASE_DELAY + timedelta(seconds=1)
    assert (await mail.deliver_pending(_settings(smtp.port), now=later)).sent == 1
    assert len(smtp.inbox.messages) == 1


async def test_mail_gives_up_after_max_attempts(rollback):
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "body", dedupe_key="k")
        await MailOutbox.update({MailOutbox.send_after: now}).where(MailOutbox.dedupe_key == "k")

    down = _settings(free_port())
    for _ in range(mail.MAX_ATTEMPTS):
        assert (await mail.deliver_pending(down, now=now)).failed == 1
        now += timedelta(days=1)
    assert await mail.deliver_pending(down, now=now) == mail.Delivery()
    [row] = await _rows()
    assert row["attempts"] == mail.MAX_ATTEMPTS


async def test_mail_no_smtp_host_outside_development_stays_queued(rollback, capsys):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "https://example.org/token")

    delivery = await mail.deliver_pending(Settings(environment="production"))

    assert delivery == mail.Delivery(waiting=1)
    assert "example.org/token" not in capsys.readouterr().out
    [row] = await _rows()
    assert row["sent_at"] is None


async def test_mail_no_smtp_host_in_development_printed(rollback, capsys):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "https://example.org/token")

    assert (await mail.deliver_pending(Settings(environment="development"))).sent == 1
    assert "https://example.org/token" in capsys.readouterr().out


async def test_mail_database_free_while_smtp_server_answers_slowly(engine):
    """No transaction (on SQLite: the process's one connection) waits on the SMTP server."""
    import asyncio
    import threading

    database.use_engine(engine)
    started, release = threading.Event(), threading.Event()

    with SmtpServer() as server:
        keep = server.inbox.handle_DATA

        async def slow(*args):
            started.set()
            await asyncio.to_thread(release.wait, 10)
            return await keep(*args)

        server.inbox.handle_DATA = slow
        async with engine.transaction():
            await mail.enqueue("anna@example.org", "Welkom", "body", dedupe_key="slow-smtp")
        try:
            delivery = asyncio.create_task(mail.deliver_pending(_settings(server.port)))
            assert await asyncio.to_thread(started.wait, 10)
            async with asyncio.timeout(5), engine.transaction():
                assert await MailOutbox.count().where(MailOutbox.dedupe_key == "slow-smtp") == 1
            assert not delivery.done()
            release.set()
            assert (await delivery).sent == 1
        finally:
            release.set()
            async with engine.transaction():
                await MailOutbox.delete().where(MailOutbox.dedupe_key == "slow-smtp")

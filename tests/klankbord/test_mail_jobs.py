"""The mail outbox and the background jobs, over a real SMTP server (aiosmtpd on loopback).

Mail is queued with its change, delivered by a job, retried with back-off, and erased once
sent; `klankbord jobs run` (once, or `--loop`) and the development ticker of the web app
deliver it too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from klankbord import cli, database, jobs, mail
from klankbord.errors import ConfigurationError
from klankbord.settings import Settings
from klankbord.tables import MailOutbox
from klankbord.web import create_app
from tests.support.smtp import SmtpServer, free_port

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def committed(engine):
    """For tests whose mail must really commit (jobs in other tasks, threads, processes):
    bound to the test engine without the rollback transaction, cleaned up afterwards."""
    database.use_engine(engine)
    yield engine
    database.use_engine(engine)
    async with engine.transaction():
        await MailOutbox.delete().where(MailOutbox.recipient.like("%@committed.example"))


def _settings(port: int, **changes) -> Settings:
    smtp = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",  # the test server speaks plain SMTP on loopback
        "mail_from": "Klankbord <no-reply@example.org>",
    }
    return dataclasses.replace(Settings(environment="test"), **{**smtp, **changes})


async def _rows() -> list[dict]:
    return await MailOutbox.select().order_by(MailOutbox.created_at)


async def _enqueue_due(
    key: str, *, now: datetime = NOW, body: str = "body", recipient: str = "anna@example.org"
) -> None:
    await mail.enqueue(recipient, "Welkom", body, dedupe_key=key)
    await MailOutbox.update({MailOutbox.send_after: now}).where(MailOutbox.dedupe_key == key)


async def _eventually(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# --- the outbox -----------------------------------------------------------------------------


async def test_mail_enqueued_then_delivered_and_body_erased(rollback, smtp):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "Open https://example.org/x/token")

    delivery = await mail.deliver_pending(_settings(smtp.port))

    assert delivery.sent == 1
    [message] = smtp.inbox.messages
    assert message["To"] == "anna@example.org"
    assert message["From"] == "Klankbord <no-reply@example.org>"
    assert message["Subject"] == "Welkom"
    assert message["Date"]
    assert message["Message-ID"].endswith("@example.org>")
    assert "https://example.org/x/token" in message.get_payload(decode=True).decode()
    [row] = await _rows()
    assert row["sent_at"] is not None
    assert row["attempts"] == 1
    assert row["body"] == ""
    assert (await mail.deliver_pending(_settings(smtp.port))).sent == 0  # never twice


async def test_mail_rolled_back_change_sends_nothing(committed, smtp):
    # A top-level transaction of its own (the `rollback` fixture's would swallow the inner one).
    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        async with database.current_engine().transaction():
            await mail.enqueue("anna@committed.example", "Welkom", "body")
            raise Abort

    assert await _rows() == []
    assert (await mail.deliver_pending(_settings(smtp.port))).sent == 0
    assert smtp.inbox.messages == []


async def test_mail_enqueue_outside_transaction_refused(rollback):
    # `rollback` holds a transaction; a fresh task sees none.
    async def outside() -> None:
        token = database.current_engine().current_transaction.set(None)
        try:
            await mail.enqueue("anna@example.org", "Welkom", "body")
        finally:
            database.current_engine().current_transaction.reset(token)

    with pytest.raises(RuntimeError, match="inside the transaction"):
        await asyncio.create_task(outside())


@pytest.mark.parametrize(
    ("recipient", "subject"),
    [("anna@example.org\nBcc: eve@example.org", "Welkom"), ("anna@example.org", "Hi\r\nBcc: x")],
)
async def test_mail_header_with_line_break_refused(rollback, recipient, subject):
    with pytest.raises(ValueError, match="single lines"):
        await mail.enqueue(recipient, subject, "body")
    assert await _rows() == []


async def test_mail_same_dedupe_key_sent_once(rollback, smtp):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Uitnodiging", "one", dedupe_key="invite:1")
        await mail.enqueue("anna@example.org", "Uitnodiging", "two", dedupe_key="invite:1")
    async with database.current_engine().transaction():  # a later change, same mail
        await mail.enqueue("anna@example.org", "Uitnodiging", "three", dedupe_key="invite:1")

    assert (await mail.deliver_pending(_settings(smtp.port))).sent == 1
    [message] = smtp.inbox.messages
    assert message.get_payload(decode=True).decode().strip() == "one"


async def test_mail_server_down_retried_after_backoff_without_content_in_error(rollback, smtp):
    async with database.current_engine().transaction():
        await _enqueue_due("k", body="secret link for anna@example.org")

    down = _settings(free_port())  # nothing listens there
    assert (await mail.deliver_pending(down, now=NOW)).failed == 1
    [row] = await _rows()
    assert row["attempts"] == 1
    assert row["sent_at"] is None
    assert row["last_error"] == "ConnectionRefusedError"  # the failure's kind, no content
    assert row["body"] == "secret link for anna@example.org"  # kept for the next attempt

    # Not due again until the back-off has passed; the second back-off is twice as long.
    assert await mail.deliver_pending(_settings(smtp.port), now=NOW) == mail.Delivery()
    second = NOW + mail.BASE_DELAY
    assert (await mail.deliver_pending(down, now=second)).failed == 1
    almost = second + 2 * mail.BASE_DELAY - timedelta(seconds=1)
    assert await mail.deliver_pending(_settings(smtp.port), now=almost) == mail.Delivery()
    later = second + 2 * mail.BASE_DELAY
    assert (await mail.deliver_pending(_settings(smtp.port), now=later)).sent == 1
    assert len(smtp.inbox.messages) == 1
    [row] = await _rows()
    assert (row["attempts"], row["last_error"], row["body"]) == (3, "", "")


async def test_mail_server_down_costs_only_the_first_mail_an_attempt(rollback):
    async with database.current_engine().transaction():
        for number in range(3):
            await _enqueue_due(f"outage:{number}", now=NOW + timedelta(seconds=number))

    delivery = await mail.deliver_pending(_settings(free_port()), now=NOW + timedelta(minutes=1))

    assert delivery == mail.Delivery(failed=1)
    attempts = {row["dedupe_key"]: row["attempts"] for row in await _rows()}
    assert attempts == {"outage:0": 1, "outage:1": 0, "outage:2": 0}


async def test_mail_gives_up_after_max_attempts(rollback, caplog):
    now = NOW
    async with database.current_engine().transaction():
        await _enqueue_due("k", now=now)

    down = _settings(free_port())
    for _ in range(mail.MAX_ATTEMPTS):
        assert (await mail.deliver_pending(down, now=now)).failed == 1
        now += timedelta(days=1)
    assert await mail.deliver_pending(down, now=now) == mail.Delivery()
    [row] = await _rows()
    assert row["attempts"] == mail.MAX_ATTEMPTS
    assert row["sent_at"] is None
    assert f"not sent after {mail.MAX_ATTEMPTS} attempts" in caplog.text
    assert "anna@example.org" not in caplog.text


async def test_mail_unknown_smtp_failure_recorded_and_job_goes_on(rollback, smtp):
    """A server that refuses one recipient fails that mail only; the next one is sent."""
    async with database.current_engine().transaction():
        await mail.enqueue("bad@example.org", "Eerste", "one", dedupe_key="bad")
        await mail.enqueue("anna@example.org", "Tweede", "two", dedupe_key="good")
        await MailOutbox.update({MailOutbox.send_after: NOW - timedelta(minutes=1)}).where(
            MailOutbox.dedupe_key == "bad"
        )
        await MailOutbox.update({MailOutbox.send_after: NOW}).where(MailOutbox.dedupe_key == "good")

    async def refuse_bad(server, session, envelope, address, options):
        if address.startswith("bad@"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    smtp.inbox.handle_RCPT = refuse_bad

    assert await mail.deliver_pending(_settings(smtp.port), now=NOW) == mail.Delivery(1, 1)
    assert [m["Subject"] for m in smtp.inbox.messages] == ["Tweede"]
    bad = await MailOutbox.select().where(MailOutbox.dedupe_key == "bad").first()
    assert bad is not None
    assert bad["last_error"] == "SMTPRecipientsRefused"


# AUTH without TLS is fine on loopback; production settings refuse it (see below).
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_mail_smtp_login_used_when_configured(rollback):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "body", dedupe_key="login")

    with SmtpServer(login=("klankbord", "relay password")) as server:
        wrong = _settings(server.port, smtp_username="klankbord", smtp_password="wrong")
        assert (await mail.deliver_pending(wrong)).failed == 1
        later = datetime.now(UTC) + timedelta(hours=1)
        right = _settings(server.port, smtp_username="klankbord", smtp_password="relay password")
        assert (await mail.deliver_pending(right, now=later)).sent == 1

    assert server.logins == ["klankbord"]
    assert [m["Subject"] for m in server.inbox.messages] == ["Welkom"]


@pytest.mark.parametrize(
    ("security", "error"), [("starttls", "SMTPNotSupportedError"), ("ssl", "SSLError")]
)
async def test_mail_tls_required_never_falls_back_to_plain(rollback, smtp, security, error):
    """The test server speaks plain SMTP only: asking for TLS fails instead of sending in clear."""
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "body", dedupe_key="tls")

    assert (await mail.deliver_pending(_settings(smtp.port, smtp_security=security))).failed == 1

    assert smtp.inbox.messages == []
    [row] = await _rows()
    assert row["last_error"] == error


async def test_mail_several_workers_send_each_mail_once(committed, smtp):
    async with committed.transaction():
        for number in range(6):
            await _enqueue_due(f"worker:{number}", recipient=f"r{number}@committed.example")

    settings = _settings(smtp.port)
    first, second = await asyncio.gather(
        mail.deliver_pending(settings, now=NOW), mail.deliver_pending(settings, now=NOW)
    )

    assert first.sent + second.sent == 6
    assert sorted(m["To"] for m in smtp.inbox.messages) == [
        f"r{number}@committed.example" for number in range(6)
    ]


async def test_mail_settled_purged_after_keep_period_unsent_kept(rollback):
    async with database.current_engine().transaction():
        for key in ("sent-old", "sent-new", "abandoned-old", "waiting-old"):
            await mail.enqueue("anna@example.org", "Welkom", "body", dedupe_key=key)
        old = NOW - mail.KEEP_SETTLED - timedelta(days=1)
        await MailOutbox.update({MailOutbox.created_at: old}).where(
            MailOutbox.dedupe_key.is_in(["sent-old", "abandoned-old", "waiting-old"])
        )
        await MailOutbox.update({MailOutbox.created_at: NOW - timedelta(days=1)}).where(
            MailOutbox.dedupe_key == "sent-new"
        )
        await MailOutbox.update({MailOutbox.sent_at: old, MailOutbox.body: ""}).where(
            MailOutbox.dedupe_key.is_in(["sent-old", "sent-new"])
        )
        await MailOutbox.update({MailOutbox.attempts: mail.MAX_ATTEMPTS}).where(
            MailOutbox.dedupe_key == "abandoned-old"
        )

    assert await mail.purge_settled(now=NOW) == 2
    assert sorted(row["dedupe_key"] for row in await _rows()) == ["sent-new", "waiting-old"]


# --- without an SMTP host -------------------------------------------------------------------


async def test_mail_no_smtp_host_in_development_printed(rollback, capsys, caplog):
    link = "http://127.0.0.1:8000/password-reset?token=" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", f"Open {link} to continue.")

    assert (await mail.deliver_pending(Settings(environment="development"))).sent == 1
    printed = capsys.readouterr().out
    assert f"Open {link} to continue." in printed  # whole, so that a developer can follow it
    assert "To: anna@example.org" in printed
    assert "Subject: Welkom" in printed
    assert "token=" not in caplog.text  # printed for the developer, never logged
    [row] = await _rows()
    assert row["body"] == ""


async def test_mail_no_smtp_host_in_test_environment_stays_queued(rollback, capsys):
    async with database.current_engine().transaction():
        await mail.enqueue("anna@example.org", "Welkom", "https://example.org/token")

    delivery = await mail.deliver_pending(Settings(environment="test"))

    assert delivery == mail.Delivery(waiting=1)
    assert "example.org/token" not in capsys.readouterr().out
    [row] = await _rows()
    assert row["sent_at"] is None


def _production(**env: str) -> dict[str, str]:
    return {
        "KLANKBORD_ENV": "production",
        "KLANKBORD_SECRET_KEY": "x" * 40,
        "KLANKBORD_DATABASE_URL": "postgresql://app:pw@db:5432/klankbord",
        **env,
    }


def test_settings_production_without_smtp_host_refused():
    with pytest.raises(ConfigurationError, match="KLANKBORD_SMTP_HOST"):
        Settings.from_env(_production())
    settings = Settings.from_env(_production(KLANKBORD_SMTP_HOST="smtp.example.org"))
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "smtp.example.org",
        587,
        "starttls",
    )


def test_settings_production_smtp_password_in_clear_refused():
    env = _production(
        KLANKBORD_SMTP_HOST="smtp.example.org",
        KLANKBORD_SMTP_USERNAME="klankbord",
        KLANKBORD_SMTP_PASSWORD="pw",
    )
    assert Settings.from_env(env).smtp_username == "klankbord"
    with pytest.raises(ConfigurationError, match="clear text"):
        Settings.from_env({**env, "KLANKBORD_SMTP_SECURITY": "none"})
    with pytest.raises(ConfigurationError, match="KLANKBORD_SMTP_SECURITY"):
        Settings.from_env({**env, "KLANKBORD_SMTP_SECURITY": "tls"})


@pytest.mark.parametrize("base_url", ["REPLACE: https://klankbord.example.org", "klankbord.test"])
def test_settings_base_url_not_an_address_refused(base_url):
    with pytest.raises(ConfigurationError, match="KLANKBORD_BASE_URL"):
        Settings.from_env({"KLANKBORD_BASE_URL": base_url})
    assert Settings.from_env({"KLANKBORD_BASE_URL": "https://kb.example.org/"}).base_url == (
        "https://kb.example.org"
    )


# --- jobs -----------------------------------------------------------------------------------


def test_jobs_registry_mail_first():
    assert next(iter(jobs.JOBS)) == "mail"


async def test_jobs_failing_job_reported_others_still_run(rollback, caplog):
    ran: list[str] = []

    async def broken(settings: Settings) -> str:
        ran.append("broken")
        address = "anna@example.org"
        raise LookupError(address)  # a message that must not reach the log

    async def fine(settings: Settings) -> str:
        ran.append("fine")
        return "3 done"

    outcomes = await jobs.run_all(Settings(environment="test"), {"broken": broken, "fine": fine})

    assert ran == ["broken", "fine"]
    assert outcomes == [
        jobs.Outcome("broken", "LookupError", failed=True),
        jobs.Outcome("fine", "3 done"),
    ]
    assert "job broken failed: LookupError" in caplog.text
    assert "anna@example.org" not in caplog.text


async def test_jobs_cli_run_delivers_pending_mail(
    committed, test_database, smtp, monkeypatch, capsys
):
    async with committed.transaction():
        await mail.enqueue("anna@committed.example", "Welkom", "hallo", dedupe_key="cli")
    for name, value in {
        "KLANKBORD_ENV": "test",
        "KLANKBORD_DATABASE_URL": test_database.settings.database_url,
        "KLANKBORD_SMTP_HOST": "127.0.0.1",
        "KLANKBORD_SMTP_PORT": str(smtp.port),
        "KLANKBORD_SMTP_SECURITY": "none",
    }.items():
        monkeypatch.setenv(name, value)

    # The command runs its own event loop and engine: in a thread, as it would in a process.
    exit_code = await asyncio.to_thread(cli.main, ["jobs", "run"])

    assert exit_code == 0
    assert "mail: 1 sent, 0 failed, 0 waiting" in capsys.readouterr().out
    assert [m["Subject"] for m in smtp.inbox.messages] == ["Welkom"]
    database.use_engine(committed)
    row = await MailOutbox.select().where(MailOutbox.dedupe_key == "cli").first()
    assert row is not None
    assert row["sent_at"] is not None
    assert row["body"] == ""


def test_jobs_cli_loop_delivers_until_sigterm(tmp_path: Path):
    """`klankbord jobs run --loop` keeps delivering, and ends cleanly on SIGTERM."""
    env = {
        **os.environ,
        "KLANKBORD_ENV": "test",
        "KLANKBORD_DATABASE_URL": f"sqlite:///{tmp_path / 'loop.sqlite3'}",
    }
    env.pop("KLANKBORD_MIGRATION_DATABASE_URL", None)
    klankbord = [sys.executable, "-m", "klankbord"]
    migrated = subprocess.run(
        [*klankbord, "migrate", "--quiet"], env=env, capture_output=True, timeout=120, check=False
    )
    assert migrated.returncode == 0, migrated.stderr

    def queue(subject: str) -> None:
        with sqlite3.connect(tmp_path / "loop.sqlite3") as db:
            db.execute(
                "INSERT INTO mail_outbox (id, recipient, subject, body, created_at, send_after,"
                " attempts, last_error) VALUES (?, 'anna@example.org', ?, 'hallo',"
                " '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', 0, '')",
                (str(uuid.uuid4()), subject),
            )

    def wait_for(count: int) -> list[str]:
        deadline = time.monotonic() + 20
        while len(server.inbox.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return [m["Subject"] for m in server.inbox.messages]

    queue("Eerste")
    with SmtpServer() as server:
        env.update(
            KLANKBORD_SMTP_HOST="127.0.0.1",
            KLANKBORD_SMTP_PORT=str(server.port),
            KLANKBORD_SMTP_SECURITY="none",
        )
        loop = subprocess.Popen(
            [*klankbord, "jobs", "run", "--loop", "0.2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_for(1) == ["Eerste"]
            queue("Tweede")  # queued while the loop runs: picked up by a later run
            assert wait_for(2) == ["Eerste", "Tweede"]
            loop.send_signal(signal.SIGTERM)
            _, stderr = loop.communicate(timeout=20)
        finally:
            if loop.poll() is None:
                loop.kill()
                loop.wait()
    assert loop.returncode == 0, stderr
    assert "hallo" not in stderr  # the log has counts, not bodies


def test_jobs_cli_loop_needs_positive_seconds(capsys):
    with pytest.raises(SystemExit):
        cli.main(["jobs", "run", "--loop", "0"])
    assert "above 0" in capsys.readouterr().err


async def test_jobs_ticker_runs_with_the_web_app_lifespan(committed, test_database, smtp):
    """`klankbord serve` in development: the app's lifespan ticks the jobs, and stops them."""
    settings = dataclasses.replace(
        _settings(smtp.port), database_url=test_database.settings.database_url
    )
    app = create_app(settings, engine=committed, jobs_every=0.05)

    async with app.lifespan():
        async with committed.transaction():
            await mail.enqueue("anna@committed.example", "Eerste", "one", dedupe_key="tick:1")
        assert await _eventually(lambda: len(smtp.inbox.messages) == 1)
        async with committed.transaction():
            await mail.enqueue("anna@committed.example", "Tweede", "two", dedupe_key="tick:2")
        assert await _eventually(lambda: len(smtp.inbox.messages) == 2)
        task = next(t for t in asyncio.all_tasks() if t.get_name() == "klankbord-jobs")

    assert task.done()
    async with committed.transaction():
        await mail.enqueue("anna@committed.example", "Derde", "three", dedupe_key="tick:3")
    await asyncio.sleep(0.2)
    assert [m["Subject"] for m in smtp.inbox.messages] == ["Eerste", "Tweede"]


async def test_jobs_web_app_without_ticker_by_default(committed):
    app = create_app(Settings(environment="test"), engine=committed)
    async with app.lifespan():
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "klankbord-jobs"]


async def test_mail_database_free_while_smtp_server_answers_slowly(committed):
    """No transaction (on SQLite: the process's one connection) waits on the SMTP server."""
    engine = committed
    started, release = threading.Event(), threading.Event()

    with SmtpServer() as server:
        keep = server.inbox.handle_DATA

        async def slow(*args):
            started.set()
            await asyncio.to_thread(release.wait, 10)
            return await keep(*args)

        server.inbox.handle_DATA = slow
        async with engine.transaction():
            await mail.enqueue("anna@committed.example", "Welkom", "body", dedupe_key="slow")
        try:
            delivery = asyncio.create_task(mail.deliver_pending(_settings(server.port)))
            assert await asyncio.to_thread(started.wait, 10)
            async with asyncio.timeout(5), engine.transaction():
                assert await MailOutbox.count().where(MailOutbox.dedupe_key == "slow") == 1
            assert not delivery.done()
            release.set()
            assert (await delivery).sent == 1
        finally:
            release.set()

"""The `klankbord` command, run as a user runs it (a subprocess on a fresh SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def run(tmp_path: Path):
    env = {
        **os.environ,
        "KLANKBORD_ENV": "development",
        "KLANKBORD_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "KLANKBORD_DATA_DIR": str(tmp_path / "data"),  # key files never land in the repo
    }
    env.pop("KLANKBORD_MIGRATION_DATABASE_URL", None)

    def klankbord(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "klankbord", *args],
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return klankbord


def test_cli_fresh_database_migrate_seed_verify(run):
    assert run("migrate", "--quiet").returncode == 0
    first = run("seed-demo")
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    assert first.stdout.count("/r/") == 6  # two organisations, three procedures each
    assert "beheer@demo.klankbord.test" in first.stdout

    again = run("seed-demo")
    assert again.returncode == 0
    assert "already present" in again.stdout
    links = sorted(line for line in first.stdout.splitlines() if "/r/" in line)
    assert sorted(line for line in again.stdout.splitlines() if "/r/" in line) == links
    verify = run("audit", "verify")
    assert verify.returncode == 0
    assert ", 0 problems" in verify.stdout


def test_cli_migrate_twice_no_change(run):
    assert run("migrate", "--quiet").returncode == 0
    second = run("migrate", "--quiet")
    assert second.returncode == 0, second.stderr


def test_cli_create_bureau_and_admin(run):
    run("migrate", "--quiet")
    bureau = run("create-bureau", "Bureau Noord")
    assert bureau.returncode == 0, bureau.stderr
    duplicate = run("create-bureau", "Bureau Noord")
    assert duplicate.returncode == 2
    assert "bureau_name_taken" in duplicate.stderr

    admin = run(
        "create-admin",
        "--bureau",
        "Bureau Noord",
        "--email",
        "admin@noord.test",
        "--name",
        "Noor",
        KLANKBORD_ADMIN_PASSWORD="a long enough passphrase",
    )
    assert admin.returncode == 0, admin.stderr
    missing = run(
        "create-admin",
        "--bureau",
        "Bureau Zuid",
        "--email",
        "x@zuid.test",
        "--name",
        "X",
        KLANKBORD_ADMIN_PASSWORD="a long enough passphrase",
    )
    assert missing.returncode == 2
    assert "no bureau" in missing.stderr


def test_cli_create_admin_short_password_refused(run):
    run("migrate", "--quiet")
    result = run(
        "create-admin",
        "--platform-operator",
        "--email",
        "op@example.test",
        "--name",
        "Op",
        KLANKBORD_ADMIN_PASSWORD="short",
    )
    assert result.returncode == 2
    assert "12 characters" in result.stderr


def test_cli_seed_demo_production_refused(run):
    result = run(
        "seed-demo",
        KLANKBORD_ENV="production",
        KLANKBORD_SECRET_KEY="s" * 40,
        KLANKBORD_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        KLANKBORD_SMTP_HOST="smtp.example.org",
    )
    assert result.returncode == 2
    assert "never seeded in production" in result.stderr


def test_cli_bad_configuration_clear_message(run):
    result = run("migrate", KLANKBORD_DATABASE_URL="mysql://x")
    assert result.returncode == 2
    assert "KLANKBORD_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_jobs_run_delivers_queued_mail(run, tmp_path):
    import sqlite3

    from tests.support.smtp import SmtpServer

    assert run("migrate", "--quiet").returncode == 0
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        db.execute(
            "INSERT INTO mail_outbox (id, recipient, subject, body, created_at, send_after,"
            " attempts, last_error) VALUES ('0b0e8f5e-3c1a-4b55-9f57-6a3f1b2f9a10',"
            " 'anna@example.org', 'Welkom', 'hallo', '2026-01-01 00:00:00+00:00',"
            " '2026-01-01 00:00:00+00:00', 0, '')"
        )
    with SmtpServer() as server:
        done = run(
            "jobs",
            "run",
            KLANKBORD_SMTP_HOST="127.0.0.1",
            KLANKBORD_SMTP_PORT=str(server.port),
            KLANKBORD_SMTP_SECURITY="none",
        )
        assert done.returncode == 0, done.stderr
        assert "1 sent" in done.stdout
        assert [m["Subject"] for m in server.inbox.messages] == ["Welkom"]

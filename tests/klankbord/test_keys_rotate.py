"""`klankbord keys rotate`, run as an operator runs it (a subprocess on a fresh SQLite file
and data folder; the rotation itself is tested on both databases in test_keys_kms.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.moto import CREDENTIALS, REGION


@pytest.fixture
def run(tmp_path: Path):
    env = {
        **os.environ,
        "KLANKBORD_ENV": "development",
        "KLANKBORD_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "KLANKBORD_DATA_DIR": str(tmp_path / "data"),
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


def key_files(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in (tmp_path / "data" / "keys").iterdir())


def test_cli_keys_rotate_local_counts_and_retire_old(run, tmp_path: Path):
    assert run("migrate", "--quiet").returncode == 0
    assert run("seed-demo").returncode == 0
    assert key_files(tmp_path) == ["kek-local.key"]

    first = run("keys", "rotate")

    assert first.returncode == 0, first.stderr
    assert "2 data keys re-wrapped, 0 already current, 0 unreadable" in first.stdout
    assert len(key_files(tmp_path)) == 3  # current, plus old and new in the ring
    secrets = [(tmp_path / "data" / "keys" / name).read_bytes() for name in key_files(tmp_path)]
    assert not any(secret.hex() in first.stdout + first.stderr for secret in secrets)

    resumed = run("keys", "rotate", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "0 data keys re-wrapped, 2 already current" in resumed.stdout
    assert len(key_files(tmp_path)) == 3  # no new key, nothing deleted

    retired = run("keys", "rotate", "--retire-old")
    assert retired.returncode == 0, retired.stderr
    assert "2 data keys re-wrapped" in retired.stdout
    assert "2 old local key files deleted" in retired.stdout
    assert len(key_files(tmp_path)) == 2  # the current key and its copy in the ring
    assert run("audit", "verify").returncode == 0


def test_cli_keys_rotate_help_warns_about_backups(run):
    shown = run("keys", "rotate", "--help")

    assert shown.returncode == 0
    assert "--retire-old" in shown.stdout and "Backups" in shown.stdout


def test_cli_keys_rotate_kms_to_new_key(run, moto):
    kms = moto.client("kms")
    first, second = (kms.create_key()["KeyMetadata"] for _ in range(2))
    aws = {
        "KLANKBORD_KEY_PROVIDER": "kms",
        "KLANKBORD_AWS_REGION": REGION,
        "KLANKBORD_AWS_ENDPOINT_URL": moto.endpoint_url,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }
    assert run("migrate", "--quiet").returncode == 0
    seeded = run("seed-demo", **aws, KLANKBORD_KMS_KEY_ID=first["KeyId"])
    assert seeded.returncode == 0, seeded.stderr

    rotated = run("keys", "rotate", **aws, KLANKBORD_KMS_KEY_ID=second["KeyId"])
    again = run("keys", "rotate", **aws, KLANKBORD_KMS_KEY_ID=second["KeyId"])
    back = run("keys", "rotate", **aws, KLANKBORD_KMS_KEY_ID=first["Arn"])

    assert rotated.returncode == 0, rotated.stderr
    assert f"in use: {second['Arn']}" in rotated.stdout
    assert "2 data keys re-wrapped, 0 already current, 0 unreadable" in rotated.stdout
    assert "0 data keys re-wrapped, 2 already current" in again.stdout
    assert back.returncode == 0 and "2 data keys re-wrapped" in back.stdout


def test_cli_keys_rotate_unreadable_rows_exit_1(run, moto, tmp_path: Path):
    aws = {
        "KLANKBORD_KEY_PROVIDER": "kms",
        "KLANKBORD_KMS_KEY_ID": moto.client("kms").create_key()["KeyMetadata"]["KeyId"],
        "KLANKBORD_AWS_REGION": REGION,
        "KLANKBORD_AWS_ENDPOINT_URL": moto.endpoint_url,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }
    assert run("migrate", "--quiet").returncode == 0
    assert run("seed-demo").returncode == 0  # wrapped with the local key
    (tmp_path / "data" / "keys" / "kek-local.key").unlink()  # ... which is then lost

    lost = run("keys", "rotate", "--retire-old", **aws)

    assert lost.returncode == 1
    assert "0 data keys re-wrapped, 0 already current, 2 unreadable" in lost.stdout
    assert "deleted" not in lost.stdout


def test_cli_keys_rotate_local_to_kms(run, moto, tmp_path: Path):
    key = moto.client("kms").create_key()["KeyMetadata"]
    aws = {
        "KLANKBORD_KEY_PROVIDER": "kms",
        "KLANKBORD_KMS_KEY_ID": key["KeyId"],
        "KLANKBORD_AWS_REGION": REGION,
        "KLANKBORD_AWS_ENDPOINT_URL": moto.endpoint_url,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }
    assert run("migrate", "--quiet").returncode == 0
    assert run("seed-demo").returncode == 0  # wrapped with the local key

    moved = run("keys", "rotate", **aws)

    assert moved.returncode == 0, moved.stderr
    assert f"in use: {key['Arn']}" in moved.stdout
    assert "2 data keys re-wrapped, 0 already current, 0 unreadable" in moved.stdout
    assert key_files(tmp_path) == ["kek-local.key"]  # left for the backups made before

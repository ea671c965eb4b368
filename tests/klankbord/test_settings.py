"""Settings come from the environment only, with an embedded default and no import effects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from klankbord.errors import ConfigurationError
from klankbord.settings import REPO_ROOT, Settings


def test_settings_empty_environment_embedded_sqlite():
    settings = Settings.from_env({})
    assert settings.database_backend == "sqlite"
    assert settings.sqlite_path == REPO_ROOT / "var" / "klankbord.sqlite3"
    assert settings.default_language == "nl"
    assert not settings.cookies_secure


def test_settings_environment_variables_read():
    settings = Settings.from_env(
        {
            "KLANKBORD_ENV": "production",
            "KLANKBORD_DATABASE_URL": "postgresql://app:pw@db:5432/klankbord",
            "KLANKBORD_SECRET_KEY": "x" * 40,
            "KLANKBORD_PORT": "9000",
            "KLANKBORD_DEFAULT_LANGUAGE": "fr",
            "KLANKBORD_SMTP_HOST": "smtp.example.org",
        }
    )
    assert settings.database_backend == "postgres"
    assert settings.port == 9000
    assert settings.default_language == "fr"
    assert settings.cookies_secure
    assert "x" * 40 not in repr(settings)  # the secret never shows up in a log of the object


def test_settings_storage_and_keys_read():
    settings = Settings.from_env(
        {
            "KLANKBORD_KEY_PROVIDER": "kms",
            "KLANKBORD_KMS_KEY_ID": "alias/klankbord",
            "KLANKBORD_BLOB_STORE": "s3",
            "KLANKBORD_S3_BUCKET": "klankbord-attachments",
            "KLANKBORD_AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "KLANKBORD_ATTACHMENT_MAX_MB": "10",
            "KLANKBORD_REPORT_MAX_MB": "40",
        }
    )
    assert (settings.key_provider, settings.kms_key_id) == ("kms", "alias/klankbord")
    assert (settings.blob_store, settings.s3_bucket) == ("s3", "klankbord-attachments")
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
    assert (settings.attachment_max_mb, settings.report_max_mb) == (10, 40)
    defaults = Settings.from_env({})
    assert (defaults.key_provider, defaults.blob_store) == ("local", "local")
    assert (defaults.attachment_max_mb, defaults.report_max_mb) == (25, 100)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KLANKBORD_ENV": "production"}, "KLANKBORD_SECRET_KEY"),
        (
            {"KLANKBORD_ENV": "production", "KLANKBORD_SECRET_KEY": "x" * 40},
            "PostgreSQL",
        ),
        ({"KLANKBORD_PORT": "eighty"}, "KLANKBORD_PORT"),
        ({"KLANKBORD_ENV": "staging"}, "KLANKBORD_ENV"),
        ({"KLANKBORD_DEFAULT_LANGUAGE": "de"}, "KLANKBORD_DEFAULT_LANGUAGE"),
        ({"KLANKBORD_DATABASE_URL": "mysql://x"}, "KLANKBORD_DATABASE_URL"),
        ({"KLANKBORD_KEY_PROVIDER": "vault"}, "KLANKBORD_KEY_PROVIDER"),
        ({"KLANKBORD_KEY_PROVIDER": "kms"}, "KLANKBORD_KMS_KEY_ID"),
        ({"KLANKBORD_BLOB_STORE": "ftp"}, "KLANKBORD_BLOB_STORE"),
        ({"KLANKBORD_BLOB_STORE": "s3"}, "KLANKBORD_S3_BUCKET"),
        ({"KLANKBORD_ATTACHMENT_MAX_MB": "200"}, "KLANKBORD_ATTACHMENT_MAX_MB"),
        ({"KLANKBORD_ATTACHMENT_MAX_MB": "0"}, "KLANKBORD_ATTACHMENT_MAX_MB"),
        ({"KLANKBORD_REPORT_MAX_MB": "lots"}, "KLANKBORD_REPORT_MAX_MB"),
    ],
)
def test_settings_invalid_environment_clear_error(env, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_import_no_side_effects(tmp_path: Path):
    """Importing the app creates no file, opens no database, reads no variable it acts on."""
    env = {**os.environ, "KLANKBORD_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": "platform"}
    env["KLANKBORD_DATABASE_URL"] = f"sqlite:///{tmp_path / 'db' / 'x.sqlite3'}"
    code = "import klankbord.web, klankbord.cli, tenants.routes, klankbord.piccolo_conf"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, check=True, timeout=60)
    assert list(tmp_path.iterdir()) == []


def test_repo_root_import_uuid_not_shadowed():
    """`platform/` must not be a package: it would shadow the standard `platform` module."""
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()
    result = subprocess.run(
        [sys.executable, "-c", "import uuid, platform; print(platform.system())"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()

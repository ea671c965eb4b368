"""Typed settings, read from the environment only.

Nothing happens at import time: callers build a `Settings` with `Settings.from_env()` and pass
it down. The embedded default (SQLite under `var/`, local files, no external service) needs
no variable at all, so `make run` works on a fresh machine; production refuses to start
without its secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from klankbord.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("nl", "en", "fr")
ENVIRONMENTS = ("development", "test", "production")
SMTP_SECURITY = ("none", "starttls", "ssl")


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'klankbord.sqlite3'}"
    # Migrations run as the schema owner; the app connects as a role without that power.
    migration_database_url: str | None = None
    secret_key: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = REPO_ROOT / "var"
    frontend_dir: Path = REPO_ROOT / "frontend"
    default_language: str = "nl"
    database_pool_size: int = 10
    log_level: str = "INFO"
    # Mail: an empty SMTP host is the embedded default (development prints mail; production
    # refuses to start without a host). Links in mail start with base_url.
    base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "starttls"
    mail_from: str = "Klankbord <no-reply@localhost>"
    # Staff sessions: signed out after this long without a request, and after this long
    # in any case.
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Key wrapping: "local" (a key file under data_dir) or "kms" (AWS KMS, key id or ARN).
    # Attachments: "local" (a folder under data_dir) or "s3" (a private bucket, SSE).
    # aws_endpoint_url is for S3/KMS compatibles and tests (moto on loopback); empty: AWS.
    key_provider: str = "local"
    kms_key_id: str = ""
    blob_store: str = "local"
    s3_bucket: str = ""
    aws_region: str = "eu-west-1"
    aws_endpoint_url: str = ""
    attachment_max_mb: int = 25
    report_max_mb: int = 100
    # Stripe: the API address (empty: Stripe's own; tests point it at localstripe), and
    # whether invoices may be sent for payment by transfer (`collection_method=send_invoice`,
    # which real Stripe has and localstripe lacks). Each bureau's keys live in the database,
    # sealed; none are configured here.
    stripe_api_base: str = ""
    stripe_send_invoice: bool = True
    # The platform's own Stripe account, with which it bills each bureau per active client
    # organisation (empty: the platform bills no one). Price in cents per organisation per
    # month; staff of a bureau that has not paid are warned, and restricted after the grace.
    stripe_platform_key: str = field(default="", repr=False)
    stripe_platform_webhook_secret: str = field(default="", repr=False)
    platform_price_cents: int = 2500
    platform_trial_days: int = 30
    platform_grace_days: int = 14

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        get = env.get
        settings = cls(
            environment=get("KLANKBORD_ENV", defaults.environment),
            database_url=get("KLANKBORD_DATABASE_URL", defaults.database_url),
            migration_database_url=get("KLANKBORD_MIGRATION_DATABASE_URL") or None,
            secret_key=get("KLANKBORD_SECRET_KEY", ""),
            host=get("KLANKBORD_HOST", defaults.host),
            port=_int(get("KLANKBORD_PORT"), defaults.port, "KLANKBORD_PORT"),
            data_dir=Path(get("KLANKBORD_DATA_DIR", str(defaults.data_dir))),
            frontend_dir=Path(get("KLANKBORD_FRONTEND_DIR", str(defaults.frontend_dir))),
            default_language=get("KLANKBORD_DEFAULT_LANGUAGE", defaults.default_language),
            database_pool_size=_int(
                get("KLANKBORD_DATABASE_POOL_SIZE"),
                defaults.database_pool_size,
                "KLANKBORD_DATABASE_POOL_SIZE",
            ),
            log_level=get("KLANKBORD_LOG_LEVEL", defaults.log_level).upper(),
            base_url=get("KLANKBORD_BASE_URL", defaults.base_url).rstrip("/"),
            smtp_host=get("KLANKBORD_SMTP_HOST", defaults.smtp_host),
            smtp_port=_int(get("KLANKBORD_SMTP_PORT"), defaults.smtp_port, "KLANKBORD_SMTP_PORT"),
            smtp_username=get("KLANKBORD_SMTP_USERNAME", ""),
            smtp_password=get("KLANKBORD_SMTP_PASSWORD", ""),
            smtp_security=get("KLANKBORD_SMTP_SECURITY", defaults.smtp_security),
            mail_from=get("KLANKBORD_MAIL_FROM", defaults.mail_from),
            session_idle_minutes=_int(
                get("KLANKBORD_SESSION_IDLE_MINUTES"),
                defaults.session_idle_minutes,
                "KLANKBORD_SESSION_IDLE_MINUTES",
            ),
            session_absolute_hours=_int(
                get("KLANKBORD_SESSION_ABSOLUTE_HOURS"),
                defaults.session_absolute_hours,
                "KLANKBORD_SESSION_ABSOLUTE_HOURS",
            ),
            key_provider=get("KLANKBORD_KEY_PROVIDER", defaults.key_provider),
            kms_key_id=get("KLANKBORD_KMS_KEY_ID", ""),
            blob_store=get("KLANKBORD_BLOB_STORE", defaults.blob_store),
            s3_bucket=get("KLANKBORD_S3_BUCKET", ""),
            aws_region=get("KLANKBORD_AWS_REGION", defaults.aws_region),
            aws_endpoint_url=get("KLANKBORD_AWS_ENDPOINT_URL", ""),
            attachment_max_mb=_int(
                get("KLANKBORD_ATTACHMENT_MAX_MB"),
                defaults.attachment_max_mb,
                "KLANKBORD_ATTACHMENT_MAX_MB",
            ),
            report_max_mb=_int(
                get("KLANKBORD_REPORT_MAX_MB"), defaults.report_max_mb, "KLANKBORD_REPORT_MAX_MB"
            ),
            stripe_api_base=get("KLANKBORD_STRIPE_API_BASE", "").rstrip("/"),
            stripe_send_invoice=get("KLANKBORD_STRIPE_SEND_INVOICE", "1") != "0",
            stripe_platform_key=get("KLANKBORD_STRIPE_PLATFORM_KEY", ""),
            stripe_platform_webhook_secret=get("KLANKBORD_STRIPE_PLATFORM_WEBHOOK_SECRET", ""),
            platform_price_cents=_int(
                get("KLANKBORD_PLATFORM_PRICE_CENTS"),
                defaults.platform_price_cents,
                "KLANKBORD_PLATFORM_PRICE_CENTS",
            ),
            platform_trial_days=_int(
                get("KLANKBORD_PLATFORM_TRIAL_DAYS"),
                defaults.platform_trial_days,
                "KLANKBORD_PLATFORM_TRIAL_DAYS",
            ),
            platform_grace_days=_int(
                get("KLANKBORD_PLATFORM_GRACE_DAYS"),
                defaults.platform_grace_days,
                "KLANKBORD_PLATFORM_GRACE_DAYS",
            ),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ConfigurationError(f"KLANKBORD_ENV must be one of {', '.join(ENVIRONMENTS)}")
        if self.default_language not in LANGUAGES:
            raise ConfigurationError(f"KLANKBORD_DEFAULT_LANGUAGE must be one of {LANGUAGES}")
        if self.database_backend not in ("sqlite", "postgres"):
            raise ConfigurationError("KLANKBORD_DATABASE_URL must be sqlite:/// or postgresql://")
        if self.smtp_security not in SMTP_SECURITY:
            raise ConfigurationError(f"KLANKBORD_SMTP_SECURITY must be one of {SMTP_SECURITY}")
        if not 1 <= self.session_idle_minutes <= 24 * 60:
            raise ConfigurationError("KLANKBORD_SESSION_IDLE_MINUTES must be 1..1440")
        if not 1 <= self.session_absolute_hours <= 7 * 24:
            raise ConfigurationError("KLANKBORD_SESSION_ABSOLUTE_HOURS must be 1..168")
        if self.key_provider not in ("local", "kms"):
            raise ConfigurationError("KLANKBORD_KEY_PROVIDER must be local or kms")
        if self.key_provider == "kms" and not self.kms_key_id:
            raise ConfigurationError("KLANKBORD_KMS_KEY_ID is required with the kms provider")
        if self.blob_store not in ("local", "s3"):
            raise ConfigurationError("KLANKBORD_BLOB_STORE must be local or s3")
        if self.blob_store == "s3" and not self.s3_bucket:
            raise ConfigurationError("KLANKBORD_S3_BUCKET is required with the s3 blob store")
        if not 1 <= self.attachment_max_mb <= self.report_max_mb <= 2048:
            raise ConfigurationError(
                "KLANKBORD_ATTACHMENT_MAX_MB must be 1.. and at most KLANKBORD_REPORT_MAX_MB"
                " (at most 2048)"
            )
        base_url = urlsplit(self.base_url)
        if base_url.scheme not in ("http", "https") or not base_url.hostname:
            # Every link in every mail starts with it.
            raise ConfigurationError("KLANKBORD_BASE_URL must be an http:// or https:// address")
        if self.is_production:
            if len(self.secret_key) < 32:
                raise ConfigurationError("KLANKBORD_SECRET_KEY (32+ characters) is required")
            if self.database_backend != "postgres":
                raise ConfigurationError("production runs on PostgreSQL")
            if not self.smtp_host:
                # Staff invitations and password resets would wait in the outbox forever.
                raise ConfigurationError("KLANKBORD_SMTP_HOST is required in production")
            if self.smtp_username and self.smtp_security == "none":
                raise ConfigurationError(
                    "KLANKBORD_SMTP_SECURITY=none would send the SMTP password in clear text"
                )

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def database_backend(self) -> str:
        scheme = urlsplit(self.database_url).scheme
        if scheme == "sqlite":
            return "sqlite"
        if scheme in ("postgres", "postgresql"):
            return "postgres"
        return scheme

    @property
    def sqlite_path(self) -> Path:
        """The file behind a `sqlite:///absolute/or/relative` URL."""
        path = Path(self.database_url.removeprefix("sqlite:///"))
        return path if path.is_absolute() else REPO_ROOT / path

    @property
    def server_key(self) -> str:
        """The key sealed secrets and keyed hashes derive from. Tests without one get a fixed
        key; everywhere else it comes from KLANKBORD_SECRET_KEY (`make run` writes one)."""
        if len(self.secret_key) >= 32:
            return self.secret_key
        if self.environment == "test":
            return "test-only-server-key-never-used-outside-the-test-suite"
        raise ConfigurationError(
            "KLANKBORD_SECRET_KEY (32+ characters) is required; `make run` writes one to"
            " var/secrets.env"
        )

    @property
    def cookies_secure(self) -> bool:
        # Local development serves plain http on 127.0.0.1; everything else is behind TLS.
        return self.environment != "development" and self.environment != "test"


def _int(raw: str | None, default: int, name: str) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number") from None

"""The kernel's own tables: the audit log, the mail outbox and rate-limit counters."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from klankbord.tables import AuditEvent, AuditHead, MailOutbox, RateLimit

APP_CONFIG = AppConfig(
    app_name="klankbord",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[AuditEvent, AuditHead, MailOutbox, RateLimit],
    migration_dependencies=[],
    commands=[],
)

"""The kernel's own tables: the audit log and the mail outbox."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from klankbord.tables import AuditEvent, AuditHead, MailOutbox

APP_CONFIG = AppConfig(
    app_name="klankbord",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[AuditEvent, AuditHead, MailOutbox],
    migration_dependencies=[],
    commands=[],
)

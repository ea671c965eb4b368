"""The casework app. Its tables arrive with the issues that build it."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from casework.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="casework",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=list(TABLES),
    migration_dependencies=["tenants.piccolo_app"],
    commands=[],
)

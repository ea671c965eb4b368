"""Piccolo configuration: the app registry, and `DB` as the process's current engine.

`DB` is looked up lazily (PEP 562) so that importing this module connects to nothing and reads
no environment; `klankbord.database.use_engine` decides what it is.
"""

from __future__ import annotations

from typing import Any

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(
    apps=[
        "klankbord.piccolo_app",
        "tenants.piccolo_app",
        "casework.piccolo_app",
        "billing.piccolo_app",
    ]
)


def __getattr__(name: str) -> Any:
    if name == "DB":
        from klankbord import database

        if database._current is None:
            from klankbord.settings import Settings

            settings = Settings.from_env()
            url = settings.migration_database_url or settings.database_url
            database.use_engine(database.make_engine(url))
        return database.current_engine()
    raise AttributeError(name)

"""Running Piccolo migrations for every app, as the schema owner."""

from __future__ import annotations

import contextlib
import io
import os

from klankbord import database
from klankbord.errors import ConfigurationError
from klankbord.settings import Settings


async def migrate(settings: Settings, *, quiet: bool = False) -> None:
    """Apply all pending migrations with the owner's URL (KLANKBORD_MIGRATION_DATABASE_URL,
    else the app's URL), then give the process its previous engine back."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    os.environ.setdefault("PICCOLO_CONF", "klankbord.piccolo_conf")
    url = settings.migration_database_url or settings.database_url
    engine = database.make_engine(url)
    previous = database._current
    database.use_engine(engine)
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output) if quiet else contextlib.nullcontext():
            result = await run_forwards(app_name="all")
    finally:
        await database.close_engine(engine)
        if previous is not None:
            database.use_engine(previous)
    if not result.success:
        raise ConfigurationError(f"migrations failed: {result.message}\n{output.getvalue()}")

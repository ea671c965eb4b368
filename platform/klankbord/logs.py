"""Logging setup: one line per event, no client addresses, no request bodies."""

from __future__ import annotations

import logging

from klankbord.settings import Settings


def configure_logging(settings: Settings) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_klankbord", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler._klankbord = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    # Uvicorn's access log writes the client address: never enabled (see `serve`).
    logging.getLogger("uvicorn.access").disabled = True

"""Typed access to what `create_app` puts on `app.state`, for route handlers."""

from __future__ import annotations

from typing import Any

from litestar import Request

from klankbord.secretbox import SecretBox
from klankbord.settings import Settings


def app_settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def secret_box(request: Request[Any, Any, Any]) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box

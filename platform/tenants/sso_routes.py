"""(filled in by the work on sso)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []

"""Pages for onboardings."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []

"""Pages for offboardings."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []

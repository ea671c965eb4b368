"""One rendering of a template for tests/klankbord/test_templates.py; feature areas keep
their cases in tests/<app>/template_cases_<area>.py, which that test collects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    """One rendering of a template: its context, the page title per language (None where the
    title is data) and texts the page must contain per language."""

    id: str
    template: str
    context: dict[str, Any]
    titles: dict[str, str | None]
    texts: dict[str, list[str]] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    path: str = "/"
    principal: Any = None
    status_code: int = 200

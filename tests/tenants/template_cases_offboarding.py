"""Template rendering cases for the offboarding pages (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from tests.support.template_case import Case

CASES: list[Case] = []

"""Posting forms as a browser does: fetch the page, take its CSRF field, send it back."""

from __future__ import annotations

import re
from typing import Any

import httpx

_CSRF = re.compile(r'name="_csrf_token" value="([0-9a-f]{128})"')


async def csrf_token(client: httpx.AsyncClient, page: str) -> str:
    """The CSRF token of the form on `page` (the GET also sets the cookie)."""
    response = await client.get(page)
    found = _CSRF.search(response.text)
    assert found, f"no CSRF field on {page} ({response.status_code})"
    return found.group(1)


async def submit(
    client: httpx.AsyncClient, page: str, action: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    """GET `page`, then POST `data` with its CSRF token to `action` (redirects not followed)."""
    token = await csrf_token(client, page)
    return await client.post(action, data={**(data or {}), "_csrf_token": token})

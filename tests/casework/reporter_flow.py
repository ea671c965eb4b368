"""Driving the reporter's pages over HTTP as a browser without JavaScript would."""

from __future__ import annotations

import re
from typing import Any

import httpx

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
CODE = re.compile(r'class="receipt-code"[^>]*><strong>([0-9A-Z-]{24})</strong>')


def form_token(html: str) -> str:
    found = FORM_TOKEN.search(html)
    assert found, "no form token on the page"
    return found.group(1)


def receipt_code(html: str) -> str:
    found = CODE.search(html)
    assert found, "no receipt code on the page"
    return found.group(1)


REQUIRED_INTEGRITY = {"q_default_wrongdoing": "Invoices are paid twice to one supplier."}


async def open_form(client: httpx.AsyncClient, token: str) -> str:
    response = await client.get(f"/r/{token}/report", headers={"accept-language": "en"})
    assert response.status_code == 200, response.text[:500]
    return form_token(response.text)


async def send_report(
    client: httpx.AsyncClient,
    token: str,
    fields: dict[str, str],
    *,
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
    token_value: str | None = None,
) -> httpx.Response:
    value = token_value or await open_form(client, token)
    data: dict[str, Any] = {"form_token": value, "anonymity": "anonymous", **fields}
    return await client.post(
        f"/r/{token}/report?lang=en",
        data=data,
        files=files or [("files", ("", b"", "application/octet-stream"))],
    )

"""Billing fixtures: localstripe on loopback (tests/support/localstripe.py), once per run.

These tests need no database: nothing here touches `world`, `engine` or `rollback`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from billing.stripe_gateway import Connection
from tests.conftest import missing
from tests.support.localstripe import LocalStripe, localstripe_available


@dataclass(frozen=True)
class StripeApi:
    """Where localstripe listens and the key one test uses.

    localstripe accepts any `sk_test_...` key but keeps a single store for all of them, so a
    fresh key per test isolates nothing: tests stay independent by creating their own
    customers and Plans and only looking at those.
    """

    server: LocalStripe
    api_key: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def connection(self) -> Connection:
        # localstripe has no `send_invoice` collection and refuses `proration_behavior`.
        return Connection(
            api_key=self.api_key,
            base_url=self.base_url,
            send_invoice_supported=False,
            proration_behavior_supported=False,
        )


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[LocalStripe]:
    reason = localstripe_available()
    if reason is not None:
        missing(reason)
    with LocalStripe() as server:
        yield server


@pytest.fixture
def stripe_api(localstripe_server: LocalStripe) -> StripeApi:
    return StripeApi(localstripe_server, f"sk_test_{secrets.token_hex(12)}")

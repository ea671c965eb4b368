"""Billing fixtures: localstripe on loopback (tests/support/localstripe.py), once per run,
and the app's settings and SecretBox pointed at it (these read the test database's settings,
not its rows: nothing here touches `world`, `engine` or `rollback`)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from billing.stripe_gateway import Connection
from klankbord.secretbox import SecretBox
from klankbord.settings import Settings
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


@pytest.fixture
def box(test_database: Any) -> SecretBox:
    """The app's SecretBox (the bureaus' Stripe keys are sealed with it)."""
    return SecretBox(test_database.settings.server_key)


@pytest.fixture
def settings(test_database: Any, stripe_api: StripeApi) -> Settings:
    """The app's settings with Stripe at localstripe (which lacks `send_invoice`)."""
    return dataclasses.replace(
        test_database.settings, stripe_api_base=stripe_api.base_url, stripe_send_invoice=False
    )

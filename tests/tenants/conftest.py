"""Identity providers on 127.0.0.1 for the single sign-on tests, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import missing
from tests.support.oidc_provider import MockProvider, ProviderUnavailable, ScriptedProvider


@pytest.fixture(scope="module")
def provider() -> Iterator[MockProvider]:
    """oidc-provider-mock, started for the module (fails under KLANKBORD_REQUIRE_ALL=1)."""
    mock = MockProvider()
    try:
        mock.start()
    except ProviderUnavailable as reason:
        missing(str(reason))
    try:
        yield mock
    finally:
        mock.stop()


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedProvider]:
    """A provider whose token endpoint answers with an id_token the test signs."""
    with ScriptedProvider() as server:
        yield server

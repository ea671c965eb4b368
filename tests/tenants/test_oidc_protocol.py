"""The OpenID Connect protocol layer against real providers on 127.0.0.1.

The code flow runs end to end against oidc-provider-mock (discovery, its sign-in form, the
token endpoint, its JWKS). Tokens no honest provider issues (another audience or issuer,
expired, forged) come from `ScriptedProvider`, a second provider whose token endpoint
answers with an id_token the test signs.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import secrets
import traceback
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from joserfc.jwk import OctKey, RSAKey

from tenants.oidc_protocol import (
    OidcError,
    ProviderConfig,
    begin,
    check_issuer_url,
    complete,
    discover,
)
from tests.support.oidc_provider import ScriptedProvider

REDIRECT_URI = "http://127.0.0.1:9/oidc/callback"  # never contacted: the test is the browser
CLIENT_ID = "klankbord-bureau-a"
CLIENT_SECRET = "client-secret-of-bureau-a"


@pytest.fixture
async def mock_flow(provider):
    """Discovery done, a config for the mock: (config, metadata)."""
    metadata = await discover(provider.issuer, allow_insecure_loopback=True)
    return ProviderConfig(provider.issuer, CLIENT_ID, CLIENT_SECRET), metadata


@pytest.fixture
async def scripted_flow(scripted):
    metadata = await discover(scripted.issuer, allow_insecure_loopback=True)
    return ProviderConfig(scripted.issuer, CLIENT_ID, CLIENT_SECRET), metadata


def _subject() -> str:
    return f"staff-{secrets.token_hex(4)}"


async def _error_code(awaitable) -> str:
    with pytest.raises(OidcError) as raised:
        await awaitable
    return raised.value.code


async def _scripted_complete(scripted, config, metadata, claims_or_token, **kwargs):
    """begin → (no browser) → callback with a code → complete, with the given id_token."""
    _, pending = begin(config, metadata, REDIRECT_URI)
    if isinstance(claims_or_token, str):
        scripted.id_token = claims_or_token
    else:
        claims = scripted.claims(client_id=CLIENT_ID, nonce=pending.nonce)
        claims.update(claims_or_token)
        scripted.id_token = scripted.sign(claims)
    params = {"code": "scripted-code", "state": pending.state}
    return await complete(config, metadata, pending, REDIRECT_URI, params, **kwargs)


# --- the code flow against oidc-provider-mock ------------------------------------------


async def test_complete_code_flow_returns_verified_identity(provider, mock_flow):
    config, metadata = mock_flow
    subject = _subject()
    await provider.add_user(
        subject, email="anna@example.org", email_verified=True, name="Anna de Vries"
    )
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, subject)

    identity = await complete(config, metadata, pending, REDIRECT_URI, params)

    assert identity.issuer == provider.issuer
    assert identity.subject == subject
    assert identity.email == "anna@example.org"
    assert identity.email_verified is True
    assert identity.name == "Anna de Vries"


async def test_complete_unverified_email_flagged_or_refused(provider, mock_flow):
    config, metadata = mock_flow
    subject = _subject()
    await provider.add_user(subject, email="piet@example.org", email_verified=False)

    url, pending = begin(config, metadata, REDIRECT_URI)
    identity = await complete(
        config, metadata, pending, REDIRECT_URI, await provider.authorize(url, subject)
    )
    assert (identity.email, identity.email_verified) == ("piet@example.org", False)

    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, subject)
    call = complete(config, metadata, pending, REDIRECT_URI, params, require_verified_email=True)
    assert await _error_code(call) == "email_not_verified"


async def test_begin_authorization_url_carries_pkce_s256(mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    query = dict(parse_qsl(urlsplit(url).query))

    assert url.startswith(metadata.authorization_endpoint + "?")
    assert query["code_challenge_method"] == "S256"
    digest = hashlib.sha256(pending.code_verifier.encode("ascii")).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "code_verifier" not in query
    assert 43 <= len(pending.code_verifier) <= 128
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["scope"] == "openid email profile"
    assert query["state"] == pending.state
    assert query["nonce"] == pending.nonce
    _, other = begin(config, metadata, REDIRECT_URI)
    assert {other.state, other.nonce, other.code_verifier}.isdisjoint(
        {pending.state, pending.nonce, pending.code_verifier}
    )


async def test_complete_state_mismatch_rejected_before_code_is_redeemed(provider, mock_flow):
    config, metadata = mock_flow
    subject = _subject()
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, subject)

    forged = {**params, "state": secrets.token_urlsafe(32)}
    assert await _error_code(complete(config, metadata, pending, REDIRECT_URI, forged)) == (
        "state_mismatch"
    )
    no_state = {"code": params["code"]}
    assert await _error_code(complete(config, metadata, pending, REDIRECT_URI, no_state)) == (
        "state_mismatch"
    )
    # Refused before the token endpoint: the (single-use) code still works with its state.
    identity = await complete(config, metadata, pending, REDIRECT_URI, params)
    assert identity.subject == subject


async def test_complete_provider_error_param_rejected(provider, mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.deny(url)
    assert params["error"] == "access_denied"

    code = await _error_code(complete(config, metadata, pending, REDIRECT_URI, params))

    assert code == "provider_error"


async def test_complete_error_param_with_foreign_state_is_state_mismatch(mock_flow):
    config, metadata = mock_flow
    _, pending = begin(config, metadata, REDIRECT_URI)
    params = {"error": "access_denied", "state": "someone-elses-state"}

    code = await _error_code(complete(config, metadata, pending, REDIRECT_URI, params))

    assert code == "state_mismatch"


async def test_complete_wrong_nonce_rejected(provider, mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, _subject())
    tampered = dataclasses.replace(pending, nonce=secrets.token_urlsafe(32))

    code = await _error_code(complete(config, metadata, tampered, REDIRECT_URI, params))

    assert code == "wrong_nonce"


async def test_complete_code_redeemed_twice_refused(provider, mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, _subject())
    await complete(config, metadata, pending, REDIRECT_URI, params)

    code = await _error_code(complete(config, metadata, pending, REDIRECT_URI, params))

    assert code == "token_exchange_failed"


async def test_complete_other_redirect_uri_refused_by_provider(provider, mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, _subject())
    elsewhere = "http://127.0.0.1:9/elsewhere"

    code = await _error_code(complete(config, metadata, pending, elsewhere, params))

    assert code == "token_exchange_failed"


async def test_complete_pending_login_older_than_ten_minutes_expired(provider, mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, _subject())
    stale = dataclasses.replace(pending, created_at=datetime.now(UTC) - timedelta(minutes=11))

    code = await _error_code(complete(config, metadata, stale, REDIRECT_URI, params))

    assert code == "expired"
    # Nine minutes is still in time (and the code was not spent on the refused attempt).
    recent = dataclasses.replace(pending, created_at=datetime.now(UTC) - timedelta(minutes=9))
    assert (await complete(config, metadata, recent, REDIRECT_URI, params)).subject


async def test_complete_metadata_of_other_issuer_rejected(provider, mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, _subject())
    other_config = dataclasses.replace(config, issuer="https://login.other-bureau.example")

    code = await _error_code(complete(other_config, metadata, pending, REDIRECT_URI, params))

    assert code == "wrong_issuer"


async def test_complete_callback_iss_of_other_provider_rejected(provider, mock_flow):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, _subject())
    mixed_up = {**params, "iss": "https://login.other-bureau.example"}

    code = await _error_code(complete(config, metadata, pending, REDIRECT_URI, mixed_up))

    assert code == "wrong_issuer"


# --- discovery ---------------------------------------------------------------------------


async def test_discover_issuer_differs_from_configured_rejected(provider):
    # The document says "http://127.0.0.1:PORT"; a configured trailing slash is another issuer.
    with pytest.raises(OidcError) as raised:
        await discover(provider.issuer + "/", allow_insecure_loopback=True)
    assert raised.value.code == "wrong_issuer"


async def test_discover_document_naming_other_issuer_rejected():
    impostor = ScriptedProvider(document_issuer="https://login.other-bureau.example")
    with impostor, pytest.raises(OidcError) as raised:
        await discover(impostor.issuer, allow_insecure_loopback=True)
    assert raised.value.code == "wrong_issuer"


async def test_discover_plain_http_refused_without_loopback_permission(provider):
    with pytest.raises(OidcError) as raised:
        await discover(provider.issuer)
    assert raised.value.code == "insecure_issuer"


@pytest.mark.parametrize(
    "issuer",
    [
        "http://idp.example.org",
        "http://localhost:9400",
        "http://10.0.0.8",
        "ftp://127.0.0.1",
        "https://",
        "https://idp.example.org/?tenant=a",
    ],
)
def test_check_issuer_url_insecure_or_malformed_refused_even_with_loopback_permission(issuer):
    with pytest.raises(OidcError) as raised:
        check_issuer_url(issuer, allow_insecure_loopback=True)
    assert raised.value.code == "insecure_issuer"


@pytest.mark.parametrize(
    ("issuer", "allow"),
    [
        ("https://login.microsoftonline.com/tenant-id/v2.0", False),
        ("http://127.0.0.1:9400", True),
        ("http://[::1]:9400", True),
    ],
)
def test_check_issuer_url_https_or_permitted_loopback_accepted(issuer, allow):
    check_issuer_url(issuer, allow_insecure_loopback=allow)


async def test_discover_unreachable_provider_fails_cleanly():
    with ScriptedProvider() as gone:
        issuer = gone.issuer
    with pytest.raises(OidcError) as raised:
        await discover(issuer, allow_insecure_loopback=True)
    assert raised.value.code == "discovery_failed"


# --- id_token checks, with tokens signed by the test -------------------------------------


async def test_complete_scripted_valid_token_accepted_and_pkce_verifier_sent(
    scripted, scripted_flow
):
    config, metadata = scripted_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    scripted.id_token = scripted.sign(scripted.claims(client_id=CLIENT_ID, nonce=pending.nonce))
    params = {"code": "scripted-code", "state": pending.state}

    identity = await complete(config, metadata, pending, REDIRECT_URI, params)

    assert identity.subject == "scripted-subject"
    request = scripted.token_requests[-1]
    assert request["grant_type"] == "authorization_code"
    assert request["code"] == "scripted-code"
    assert request["redirect_uri"] == REDIRECT_URI
    assert request["code_verifier"] == pending.code_verifier
    challenge = dict(parse_qsl(urlsplit(url).query))["code_challenge"]
    digest = hashlib.sha256(request["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request["authorization"] == f"Basic {basic}"


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "klankbord-bureau-b"},
        {"aud": ["klankbord-bureau-b", "something-else"]},
        {"aud": [CLIENT_ID, "other-client"]},  # several audiences and no azp
        {"aud": [CLIENT_ID, "other-client"], "azp": "other-client"},
        {"azp": "other-client"},
        {"aud": None},
    ],
)
async def test_complete_wrong_audience_rejected(scripted, scripted_flow, changes):
    config, metadata = scripted_flow
    code = await _error_code(_scripted_complete(scripted, config, metadata, changes))
    assert code == "wrong_audience"


async def test_complete_several_audiences_with_our_azp_accepted(scripted, scripted_flow):
    config, metadata = scripted_flow
    changes = {"aud": [CLIENT_ID, "other-client"], "azp": CLIENT_ID}
    identity = await _scripted_complete(scripted, config, metadata, changes)
    assert identity.subject == "scripted-subject"


async def test_complete_client_id_mismatch_rejected(scripted, scripted_flow):
    # The token was issued to bureau A's client; bureau B's configuration must refuse it.
    config, metadata = scripted_flow
    bureau_b = dataclasses.replace(config, client_id="klankbord-bureau-b")
    _, pending = begin(bureau_b, metadata, REDIRECT_URI)
    scripted.id_token = scripted.sign(scripted.claims(client_id=CLIENT_ID, nonce=pending.nonce))
    params = {"code": "scripted-code", "state": pending.state}

    code = await _error_code(complete(bureau_b, metadata, pending, REDIRECT_URI, params))

    assert code == "wrong_audience"


async def test_complete_id_token_of_other_issuer_rejected(scripted, scripted_flow):
    config, metadata = scripted_flow
    changes = {"iss": "https://login.other-bureau.example"}
    code = await _error_code(_scripted_complete(scripted, config, metadata, changes))
    assert code == "wrong_issuer"


async def test_complete_scripted_wrong_nonce_rejected(scripted, scripted_flow):
    config, metadata = scripted_flow
    for changes in ({"nonce": "replayed-nonce"}, {"nonce": None}):
        code = await _error_code(_scripted_complete(scripted, config, metadata, changes))
        assert code == "wrong_nonce"


async def test_complete_expired_id_token_rejected(scripted, scripted_flow):
    config, metadata = scripted_flow
    past = int(datetime.now(UTC).timestamp()) - 3600
    changes = {"iat": past - 300, "exp": past}
    code = await _error_code(_scripted_complete(scripted, config, metadata, changes))
    assert code == "id_token_expired"


@pytest.mark.parametrize(
    "changes",
    [
        {"iat": int(datetime.now(UTC).timestamp()) + 3600},  # issued in the future
        {"exp": "tomorrow"},
        {"sub": ""},
    ],
)
async def test_complete_malformed_claims_rejected(scripted, scripted_flow, changes):
    config, metadata = scripted_flow
    code = await _error_code(_scripted_complete(scripted, config, metadata, changes))
    assert code == "invalid_id_token"


def _forged_with_other_key(scripted, claims):
    impostor = RSAKey.generate_key(2048, parameters={"kid": "scripted-1"})
    return scripted.sign(claims, key=impostor)


def _tampered(scripted, claims):
    header, _, signature = scripted.sign(claims).split(".")
    changed = dict(claims, sub="someone-else")
    body = base64.urlsafe_b64encode(_json(changed)).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def _unsigned(scripted, claims):
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(_json(claims)).rstrip(b"=").decode()
    return f"{header}.{body}."


def _hmac_with_client_secret(scripted, claims):
    key = OctKey.import_key(CLIENT_SECRET.encode())
    return scripted.sign(claims, key=key, header={"alg": "HS256"})


def _unknown_kid(scripted, claims):
    return scripted.sign(claims, header={"kid": "not-published"})


def _json(claims):
    return json.dumps(claims, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "forge",
    [_forged_with_other_key, _tampered, _unsigned, _hmac_with_client_secret, _unknown_kid],
)
async def test_complete_forged_id_token_signature_rejected(scripted, scripted_flow, forge):
    config, metadata = scripted_flow
    _, pending = begin(config, metadata, REDIRECT_URI)
    scripted.id_token = forge(scripted, scripted.claims(client_id=CLIENT_ID, nonce=pending.nonce))
    params = {"code": "scripted-code", "state": pending.state}

    code = await _error_code(complete(config, metadata, pending, REDIRECT_URI, params))

    assert code == "invalid_id_token"


async def test_complete_token_response_without_id_token_rejected(scripted, scripted_flow):
    config, metadata = scripted_flow
    code = await _error_code(_scripted_complete(scripted, config, metadata, ""))
    assert code == "invalid_id_token"


# --- nothing secret leaks ------------------------------------------------------------------


async def test_failures_and_reprs_carry_no_secrets(provider, mock_flow, caplog):
    config, metadata = mock_flow
    url, pending = begin(config, metadata, REDIRECT_URI)
    params = await provider.authorize(url, _subject())
    denied_url, denied = begin(config, metadata, REDIRECT_URI)
    denial = await provider.deny(denied_url)
    secrets_seen = [pending.state, pending.nonce, pending.code_verifier, params["code"]]
    secrets_seen += [denied.state, denied.nonce, denied.code_verifier, CLIENT_SECRET]
    caplog.set_level(logging.DEBUG)  # everything logged from here on: ours, httpx, httpcore
    caplog.clear()

    await complete(config, metadata, pending, REDIRECT_URI, params)
    failures = []
    attempts = [
        (pending, params),  # the spent code, refused by the provider
        (denied, denial),  # the person pressed "Deny"
        (denied, {**params, "state": pending.state}),  # a callback of another attempt
    ]
    for attempt, callback in attempts:
        with pytest.raises(OidcError) as raised:
            await complete(config, metadata, attempt, REDIRECT_URI, callback)
        failures.append(raised.value)

    assert [str(failure) for failure in failures] == [
        "token_exchange_failed",
        "provider_error",
        "state_mismatch",
    ]
    assert "token_exchange_failed" in caplog.text  # the refusal is logged, by its code only
    shown = [caplog.text, repr(pending), repr(denied), repr(config)]
    shown += ["".join(traceback.format_exception(failure)) for failure in failures]
    for secret in secrets_seen:
        assert not any(secret in text for text in shown)

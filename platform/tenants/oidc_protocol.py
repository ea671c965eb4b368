"""OpenID Connect sign-in for staff against a bureau's own identity provider: the protocol only.

Authorization code flow with PKCE (S256), a `state` and a `nonce` per attempt, and every
id_token check done here rather than trusted to the provider: signature against the
provider's published keys, issuer, audience, authorised party, expiry, issue time, nonce.
Storage of the pending attempt and the web pages are the caller's: `begin` returns the
`PendingLogin` to keep server-side, `complete` takes it back with the callback's query.

Every failure is one `OidcError` whose `code` is a short word. Nothing in an error, a log
line or a repr carries a code, token, state, nonce, verifier or secret: a sign-in error page
or a log shipped elsewhere must never hand an attacker something to replay.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import re
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from klankbord.errors import DomainError

log = logging.getLogger(__name__)

DEFAULT_SCOPES = "openid email profile"
# A person who takes longer than this at the provider starts again; a pending attempt
# found later (a leaked or replayed callback) is worthless.
PENDING_LOGIN_MAX_AGE = timedelta(minutes=10)
CLOCK_LEEWAY = timedelta(seconds=60)
HTTP_TIMEOUT = httpx.Timeout(10.0)
# Asymmetric signatures only: never "none", and never HMAC, which is keyed with the client
# secret that this server holds too, so such a token proves nothing about the provider.
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)
_SIGNING_KEY_TYPES = ("RSA", "EC")
_SAFE_ERROR_NAME = re.compile(r"[a-z_]{1,64}")


class OidcError(DomainError):
    """A sign-in through the identity provider failed; `code` says which check refused it."""

    status = 401

    def __init__(self, code: str) -> None:
        super().__init__(code, code=code)


@dataclass(frozen=True)
class ProviderConfig:
    """One bureau's registration at its identity provider."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: str = DEFAULT_SCOPES


@dataclass(frozen=True)
class ProviderMetadata:
    """The part of the provider's discovery document that the code flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    id_token_signing_alg_values_supported: tuple[str, ...] = ("RS256",)
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)


@dataclass(frozen=True)
class PendingLogin:
    """One sign-in attempt between `begin` and `complete`; the caller keeps it server-side."""

    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    created_at: datetime


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who the provider vouched for. Link accounts by (issuer, subject): an e-mail address
    can change hands, a subject cannot; use `email` only when `email_verified` is true."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def check_issuer_url(url: str, *, allow_insecure_loopback: bool = False) -> None:
    """https only; plain http solely on a loopback address, and only when asked for (tests,
    development against a provider on the same machine)."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        raise OidcError("insecure_issuer") from None
    if not hostname or parts.query or parts.fragment:
        raise OidcError("insecure_issuer")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and allow_insecure_loopback and _is_loopback(hostname):
        return
    raise OidcError("insecure_issuer")


async def discover(issuer: str, *, allow_insecure_loopback: bool = False) -> ProviderMetadata:
    """Fetch `/.well-known/openid-configuration`; the document must name exactly the
    configured issuer (OpenID Connect Discovery §4.3), or a provider could speak for another."""
    check_issuer_url(issuer, allow_insecure_loopback=allow_insecure_loopback)
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    async with _http_client() as http:
        document = await _get_json(http, url, failure="discovery_failed", issuer=issuer)
    if document.get("issuer") != issuer:
        log.warning("OIDC wrong_issuer in the discovery document of %s", issuer)
        raise OidcError("wrong_issuer")
    try:
        metadata = ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=_text(document, "authorization_endpoint"),
            token_endpoint=_text(document, "token_endpoint"),
            jwks_uri=_text(document, "jwks_uri"),
            id_token_signing_alg_values_supported=_texts(
                document, "id_token_signing_alg_values_supported", ("RS256",)
            ),
            token_endpoint_auth_methods_supported=_texts(
                document, "token_endpoint_auth_methods_supported", ("client_secret_basic",)
            ),
        )
    except (KeyError, TypeError):
        raise OidcError("discovery_failed") from None
    for endpoint in (metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri):
        check_issuer_url(endpoint, allow_insecure_loopback=allow_insecure_loopback)
    return metadata


def begin(
    config: ProviderConfig,
    metadata: ProviderMetadata,
    redirect_uri: str,
    *,
    now: datetime | None = None,
) -> tuple[str, PendingLogin]:
    """The address to send the person to, and the attempt to keep until they come back."""
    pending = PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),  # 86 characters, within RFC 7636's 43-128
        created_at=now or datetime.now(UTC),
    )
    url = prepare_grant_uri(
        metadata.authorization_endpoint,
        client_id=config.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=config.scopes,
        state=pending.state,
        nonce=pending.nonce,
        code_challenge=create_s256_code_challenge(pending.code_verifier),
        code_challenge_method="S256",
    )
    return str(url), pending


async def complete(
    config: ProviderConfig,
    metadata: ProviderMetadata,
    pending: PendingLogin,
    redirect_uri: str,
    callback_params: Mapping[str, str],
    *,
    require_verified_email: bool = False,
    now: datetime | None = None,
) -> VerifiedIdentity:
    """Check the callback, redeem the code and verify the id_token.

    The caller must delete `pending` before calling, whatever the outcome: an attempt is
    good for one callback. With `require_verified_email`, an identity without a verified
    e-mail address is refused (for linking an invitation by address); by default the flag
    is returned and the caller decides, since some providers never send it.
    """
    now = now or datetime.now(UTC)
    state = callback_params.get("state")
    # An error answer is a refusal whatever else it says; some providers leave out the state
    # on it (RFC 6749 wants it), so only a state that is present and wrong counts as forged.
    if "error" in callback_params and (state is None or _same(state, pending.state)):
        error = callback_params["error"]
        detail = error if _SAFE_ERROR_NAME.fullmatch(error) else "(unreadable)"
        log.info("OIDC provider_error at %s: %s", config.issuer, detail)
        raise OidcError("provider_error")
    if not _same(state, pending.state):
        raise OidcError("state_mismatch")
    if now - pending.created_at > PENDING_LOGIN_MAX_AGE or pending.created_at > now + CLOCK_LEEWAY:
        raise OidcError("expired")
    if metadata.issuer != config.issuer:
        raise OidcError("wrong_issuer")
    # RFC 9207: a provider that names itself in the callback must be the one we asked.
    callback_issuer = callback_params.get("iss")
    if callback_issuer is not None and callback_issuer != config.issuer:
        raise OidcError("wrong_issuer")
    code = callback_params.get("code")
    if not code:
        raise OidcError("missing_code")

    async with _http_client() as http:
        id_token = await _redeem(http, config, metadata, pending, redirect_uri, code)
        claims = await _verified_claims(http, config, metadata, id_token, now=now)
    if not _same(claims.get("nonce"), pending.nonce):
        raise OidcError("wrong_nonce")

    email = claims.get("email")
    email = email if isinstance(email, str) and email else None
    # A few providers send the flag as the string "true".
    email_verified = email is not None and claims.get("email_verified") in (True, "true")
    if require_verified_email and not email_verified:
        raise OidcError("email_not_verified")
    name = claims.get("name")
    return VerifiedIdentity(
        issuer=config.issuer,
        subject=claims["sub"],
        email=email,
        email_verified=email_verified,
        name=name if isinstance(name, str) and name else None,
    )


async def _redeem(
    http: httpx.AsyncClient,
    config: ProviderConfig,
    metadata: ProviderMetadata,
    pending: PendingLogin,
    redirect_uri: str,
    code: str,
) -> str:
    """Exchange the code (with the PKCE verifier) for the id_token.

    Authlib prepares the request (client authentication, form body); httpx sends it. Authlib's
    own httpx client is not used: it now prefers the `httpx2` fork and would switch libraries,
    and with them exception types, as soon as that is installed.
    """
    methods = metadata.token_endpoint_auth_methods_supported
    auth_method = (
        "client_secret_post"
        if "client_secret_basic" not in methods and "client_secret_post" in methods
        else "client_secret_basic"
    )
    body = prepare_token_request(
        "authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=pending.code_verifier,
    )
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
    }
    client_auth = ClientAuth(config.client_id, config.client_secret, auth_method)
    url, headers, body = client_auth.prepare("POST", metadata.token_endpoint, headers, body)
    try:
        response = await http.post(url, headers=headers, content=body)
        token = response.json()
    except (httpx.HTTPError, ValueError) as error:
        log.warning("OIDC token_exchange_failed at %s: %s", config.issuer, type(error).__name__)
        raise OidcError("token_exchange_failed") from None
    if response.status_code != 200 or not isinstance(token, dict) or "error" in token:
        error_name = token.get("error") if isinstance(token, dict) else None
        shown = error_name if isinstance(error_name, str) else ""
        log.warning(
            "OIDC token_exchange_failed at %s: HTTP %d %s",
            config.issuer,
            response.status_code,
            shown if _SAFE_ERROR_NAME.fullmatch(shown) else "",
        )
        raise OidcError("token_exchange_failed")
    id_token = token.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcError("invalid_id_token")
    return id_token


async def _verified_claims(
    http: httpx.AsyncClient,
    config: ProviderConfig,
    metadata: ProviderMetadata,
    id_token: str,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The id_token's claims once signature, issuer, audience and times are checked. The
    keys are fetched each time: sign-ins are rare and a rotated key then works at once."""
    algorithms = [
        a for a in metadata.id_token_signing_alg_values_supported if a in SIGNING_ALGORITHMS
    ]
    if not algorithms:
        raise OidcError("invalid_id_token")
    document = await _get_json(http, metadata.jwks_uri, failure="jwks_failed", issuer=config.issuer)
    try:
        entries = document["keys"]
        # Signing keys of asymmetric types only: a symmetric key in the set could otherwise
        # verify a token "signed" with public material.
        usable = [
            entry
            for entry in entries
            if isinstance(entry, dict)
            and entry.get("kty") in _SIGNING_KEY_TYPES
            and entry.get("use", "sig") == "sig"
        ]
        keys = KeySet.import_key_set({"keys": usable})
        claims = jwt.decode(id_token, keys, algorithms=algorithms).claims
    except (JoseError, KeyError, TypeError, ValueError):
        raise OidcError("invalid_id_token") from None

    if claims.get("iss") != config.issuer:
        raise OidcError("wrong_issuer")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or config.client_id not in audiences:
        raise OidcError("wrong_audience")
    # Several audiences: the token must say it was issued to us (Core §3.1.3.7, items 4-5).
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != config.client_id:
        raise OidcError("wrong_audience")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise OidcError("invalid_id_token")

    moment = now.timestamp()
    leeway = CLOCK_LEEWAY.total_seconds()
    expires, issued = claims.get("exp"), claims.get("iat")
    if not _is_time(expires) or not _is_time(issued):
        raise OidcError("invalid_id_token")
    if expires + leeway <= moment:
        raise OidcError("id_token_expired")
    if issued - leeway > moment:
        raise OidcError("invalid_id_token")
    not_before = claims.get("nbf")
    if not_before is not None and (not _is_time(not_before) or not_before - leeway > moment):
        raise OidcError("invalid_id_token")
    return claims


def _http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=HTTP_TIMEOUT, verify=_tls_context())


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle takes ~50 ms of CPU on the event loop: once per process."""
    return httpx.create_ssl_context()


async def _get_json(
    http: httpx.AsyncClient, url: str, *, failure: str, issuer: str
) -> dict[str, Any]:
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as error:
        log.warning("OIDC %s at %s: %s", failure, issuer, type(error).__name__)
        raise OidcError(failure) from None
    if not isinstance(document, dict):
        raise OidcError(failure)
    return document


def _same(given: object, expected: str) -> bool:
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _is_loopback(hostname: str) -> bool:
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _is_time(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(document: Mapping[str, Any], key: str) -> str:
    value = document[key]
    if not isinstance(value, str) or not value:
        raise TypeError(key)
    return value


def _texts(document: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    value = document.get(key)
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(key)
    return tuple(value)

"""Single sign-on: a bureau's own OpenID provider signs its staff in.

The bureau admin registers Klankbord at the bureau's provider and enters the issuer, client id
and client secret here (the secret sealed with `SecretBox`, context "oidc:<bureau id>"). A
staff member then starts at `/sign-in/sso/<provider id>`; `start` keeps the attempt in an
`OidcLogin` row (found by the SHA-256 of its state, tied to the browser by the SHA-256 of a
cookie value, nonce and PKCE verifier sealed) and `finish` redeems it exactly once.

Who may sign in: a staff member of the provider's bureau, active, never a platform operator,
found first by the (issuer, subject) the provider vouched for and otherwise, once, by the
provider's verified e-mail address, after which the subject is stored on the staff row. There
is no self-registration, and every refusal is the same `SsoRefused`: the page never says
whether an address exists or which check failed (the log says which, by a short code).

The protocol (state, nonce, PKCE, every id_token check) is `tenants.oidc_protocol`'s.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from klankbord import audit
from klankbord.errors import DomainError, Invalid, NotFound, PermissionDenied
from klankbord.secretbox import SealedValueInvalid, SecretBox
from klankbord.tenancy import (
    Scope,
    TenantContext,
    bureau_reader_context,
    check_may_write,
    login_context,
    scoped,
    system_context,
    tenant_transaction,
)
from tenants import accounts, oidc_protocol
from tenants.access import access_bureau
from tenants.oidc_protocol import OidcError, PendingLogin, ProviderConfig
from tenants.tables import OidcLogin, OidcProvider, StaffUser

log = logging.getLogger("klankbord.sso")

LOGIN_LIFETIME = oidc_protocol.PENDING_LOGIN_MAX_AGE
MAX_ISSUER = 500
MAX_CLIENT_ID = 255
MAX_CLIENT_SECRET = 2000
MAX_NEXT_PATH = 500


class SsoRefused(DomainError):
    """Single sign-on did not sign anyone in. One code for every cause, so the page tells an
    attacker nothing; `reason` (a short word, never data) is for the log and the tests."""

    code = "sso_failed"
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(code=self.code)
        self.reason = reason


@dataclass(frozen=True)
class ProviderSettings:
    """What the admin page shows: never the secret, only whether one is set."""

    bureau_name: str
    provider_id: UUID | None
    issuer: str
    client_id: str
    enabled: bool
    secret_set: bool


def loopback_allowed(environment: str) -> bool:
    """Plain-http issuers on 127.0.0.1 are for development and tests only."""
    return environment in ("development", "test")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _secret_context(bureau_id: UUID) -> str:
    return f"oidc:{bureau_id}"


def _login_context(state_hash: str) -> str:
    return f"oidc-login:{state_hash}"


def _now() -> datetime:
    return datetime.now(UTC)


# --- the admin's settings -----------------------------------------------------------------


def _check_bureau_admin(ctx: TenantContext) -> None:
    """Only a bureau admin configures sign-in for the bureau; the platform operator does not
    (the provider decides who enters the bureau, which is the bureau's own business)."""
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin:
        raise PermissionDenied()


async def provider_settings(ctx: TenantContext, bureau_id: UUID) -> ProviderSettings:
    _check_bureau_admin(ctx)
    async with tenant_transaction(ctx):
        bureau = await access_bureau(ctx, bureau_id)
        row = await _own_provider(ctx, bureau_id)
    if row is None:
        return ProviderSettings(bureau["name"], None, "", "", True, False)
    return ProviderSettings(
        bureau_name=bureau["name"],
        provider_id=row["id"],
        issuer=row["issuer"],
        client_id=row["client_id"],
        enabled=row["enabled"],
        secret_set=bool(row["client_secret_sealed"]),
    )


async def _own_provider(ctx: TenantContext, bureau_id: UUID) -> dict[str, Any] | None:
    query = scoped(OidcProvider.select(), OidcProvider, ctx)
    row: dict[str, Any] | None = await query.where(OidcProvider.bureau == bureau_id).first()
    return row


def _field_errors(
    *, issuer: str, client_id: str, client_secret: str, allow_insecure_loopback: bool
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not issuer:
        errors["issuer"] = "required"
    elif len(issuer) > MAX_ISSUER:
        errors["issuer"] = "too_long"
    else:
        try:
            oidc_protocol.check_issuer_url(issuer, allow_insecure_loopback=allow_insecure_loopback)
        except OidcError:
            errors["issuer"] = "insecure_issuer"
    if not client_id:
        errors["client_id"] = "required"
    elif len(client_id) > MAX_CLIENT_ID:
        errors["client_id"] = "too_long"
    if len(client_secret) > MAX_CLIENT_SECRET:
        errors["client_secret"] = "too_long"  # noqa: S105 (an error code)
    return errors


async def configure_provider(
    ctx: TenantContext,
    box: SecretBox,
    *,
    bureau_id: UUID,
    issuer: str,
    client_id: str,
    client_secret: str,
    enabled: bool,
    allow_insecure_loopback: bool = False,
) -> UUID:
    """Create or change the bureau's provider (one per bureau); returns its id.

    An empty secret keeps the stored one, so the admin never has to see it again to change
    something else. The audit event says what changed, never the secret.
    """
    _check_bureau_admin(ctx)
    issuer, client_id = issuer.strip(), client_id.strip()
    async with tenant_transaction(ctx):
        await access_bureau(ctx, bureau_id)
        check_may_write(ctx, bureau_id=bureau_id)
        existing = await _own_provider(ctx, bureau_id)
        errors = _field_errors(
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            allow_insecure_loopback=allow_insecure_loopback,
        )
        if existing is None and not client_secret and "client_secret" not in errors:
            errors["client_secret"] = "required"  # noqa: S105 (an error code)
        if errors:
            raise Invalid(fields=errors)
        sealed = box.seal(client_secret, context=_secret_context(bureau_id))
        if existing is None:
            provider = OidcProvider(
                bureau=bureau_id,
                issuer=issuer,
                client_id=client_id,
                client_secret_sealed=sealed,
                enabled=enabled,
            )
            await provider.save()
            provider_id: UUID = provider.id
        else:
            provider_id = existing["id"]
            changes: dict[Any, Any] = {
                OidcProvider.issuer: issuer,
                OidcProvider.client_id: client_id,
                OidcProvider.enabled: enabled,
                OidcProvider.updated_at: _now(),
            }
            if client_secret:
                changes[OidcProvider.client_secret_sealed] = sealed
            await scoped(OidcProvider.update(changes), OidcProvider, ctx).where(
                OidcProvider.id == provider_id
            )
        await audit.record(
            ctx,
            action="oidc_provider.configured",
            bureau_id=bureau_id,
            subject_type="oidc_provider",
            subject_id=provider_id,
            detail={
                "created": existing is None,
                "issuer": issuer,
                "issuer_changed": existing is not None and existing["issuer"] != issuer,
                "client_id_changed": existing is not None and existing["client_id"] != client_id,
                "secret_changed": bool(client_secret),
                "enabled": enabled,
            },
        )
    return provider_id


# --- signing in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Provider:
    id: UUID
    bureau_id: UUID
    config: ProviderConfig


async def _enabled_provider(box: SecretBox, provider_id: UUID) -> _Provider:
    """The provider by id, read before anyone is known: the login context sees exactly the
    oidc_provider row whose id was asked for. Disabled or unknown: `NotFound`."""
    lookup = login_context(str(provider_id))
    async with tenant_transaction(lookup):
        row = (
            await scoped(OidcProvider.select(), OidcProvider, lookup)
            .where(OidcProvider.id == provider_id)
            .first()
        )
    if row is None or not row["enabled"]:
        raise NotFound()
    try:
        secret = box.open(row["client_secret_sealed"], context=_secret_context(row["bureau"]))
    except SealedValueInvalid:
        # Another server key, or a row copied from another bureau: unusable, say nothing more.
        log.warning("single sign-on: the client secret of a provider does not open")
        raise NotFound() from None
    return _Provider(
        id=row["id"],
        bureau_id=row["bureau"],
        config=ProviderConfig(row["issuer"], row["client_id"], secret),
    )


async def start(
    box: SecretBox,
    *,
    provider_id: UUID,
    redirect_uri: str,
    next_path: str,
    browser_binding: str,
    allow_insecure_loopback: bool = False,
) -> str:
    """Begin a sign-in at the bureau's provider; returns the address to send the browser to.

    `browser_binding` is a random value the caller also puts in a cookie: a callback is only
    accepted from the browser that started, so a link with someone else's code and state
    (login CSRF, a leaked callback URL) signs nobody in.
    """
    if not browser_binding:
        raise ValueError("a sign-in needs a browser binding")
    provider = await _enabled_provider(box, provider_id)
    metadata = await oidc_protocol.discover(
        provider.config.issuer, allow_insecure_loopback=allow_insecure_loopback
    )
    url, pending = oidc_protocol.begin(provider.config, metadata, redirect_uri)
    state_hash = _sha256(pending.state)
    secrets_json = json.dumps({"nonce": pending.nonce, "code_verifier": pending.code_verifier})
    await OidcLogin.insert(
        OidcLogin(
            state_hash=state_hash,
            provider=provider.id,
            browser_hash=_sha256(browser_binding),
            sealed=box.seal(secrets_json, context=_login_context(state_hash)),
            next_path=next_path if len(next_path) <= MAX_NEXT_PATH else "/",
            created_at=pending.created_at,
            expires_at=pending.created_at + LOGIN_LIFETIME,
        )
    )
    return url


async def _take_login(state: str) -> dict[str, Any]:
    """The pending attempt for this state, deleted on the way: good for one callback, also
    when two arrive at once (only the request whose delete removed the row goes on)."""
    state_hash = _sha256(state)
    row: dict[str, Any] | None = (
        await OidcLogin.select().where(OidcLogin.state_hash == state_hash).first()
    )
    if row is None:
        raise SsoRefused("unknown_state")
    deleted = await OidcLogin.delete().where(OidcLogin.id == row["id"]).returning(OidcLogin.id)
    if not deleted:
        raise SsoRefused("unknown_state")
    return row


async def finish(
    box: SecretBox,
    *,
    callback_params: Mapping[str, str],
    redirect_uri: str,
    browser_binding: str | None,
    policy: accounts.SessionPolicy | None = None,
    allow_insecure_loopback: bool = False,
) -> tuple[str, str]:
    """Complete a sign-in; returns the new session's cookie token and where to go next.

    The session is full at once: no TOTP code is asked. The bureau's identity provider is
    the second factor here; it signs its staff in under its own policy (its MFA included),
    and the bureau chose to trust it by configuring it.
    """
    try:
        return await _finish(
            box,
            callback_params=callback_params,
            redirect_uri=redirect_uri,
            browser_binding=browser_binding,
            policy=policy,
            allow_insecure_loopback=allow_insecure_loopback,
        )
    except SsoRefused as refused:
        log.info("single sign-on refused (%s)", refused.reason)
        raise


async def _finish(
    box: SecretBox,
    *,
    callback_params: Mapping[str, str],
    redirect_uri: str,
    browser_binding: str | None,
    policy: accounts.SessionPolicy | None,
    allow_insecure_loopback: bool,
) -> tuple[str, str]:
    state = callback_params.get("state")
    if not state:
        raise SsoRefused("missing_state")
    login = await _take_login(state)
    if login["expires_at"] <= _now():
        raise SsoRefused("expired")
    if not browser_binding or not hmac.compare_digest(
        login["browser_hash"], _sha256(browser_binding)
    ):
        raise SsoRefused("other_browser")
    try:
        opened = json.loads(box.open(login["sealed"], context=_login_context(login["state_hash"])))
        pending = PendingLogin(
            state=state,
            nonce=opened["nonce"],
            code_verifier=opened["code_verifier"],
            created_at=login["created_at"],
        )
    except (SealedValueInvalid, ValueError, KeyError, TypeError):
        raise SsoRefused("sealed_invalid") from None
    try:
        provider = await _enabled_provider(box, login["provider"])
    except NotFound:
        raise SsoRefused("provider_unavailable") from None
    try:
        metadata = await oidc_protocol.discover(
            provider.config.issuer, allow_insecure_loopback=allow_insecure_loopback
        )
        identity = await oidc_protocol.complete(
            provider.config,
            metadata,
            pending,
            redirect_uri,
            callback_params,
            require_verified_email=True,
        )
    except OidcError as error:
        raise SsoRefused(error.code) from None

    staff_user_id = await _match_staff_user(provider, identity)
    ctx = await accounts.context_for_user(staff_user_id)
    if ctx is None or ctx.bureau_id != provider.bureau_id:
        raise SsoRefused("no_account")
    token = await accounts.start_session(
        staff_user_id, stage=accounts.Stage.FULL, next_path=login["next_path"], policy=policy
    )
    async with tenant_transaction(ctx):
        await audit.record(
            ctx,
            action="staff.signed_in",
            bureau_id=ctx.bureau_id,
            subject_type="staff_user",
            subject_id=staff_user_id,
            detail={"method": "oidc"},
        )
    return token, login["next_path"]


# --- who the provider vouched for ---------------------------------------------------------


def _may_sign_in(row: dict[str, Any] | None, provider: _Provider) -> bool:
    return (
        row is not None
        and row["bureau"] == provider.bureau_id
        and row["active"]
        and not row["is_platform_operator"]
    )


def _provider_reader(provider: _Provider) -> TenantContext:
    """Reads the staff rows of the provider's bureau, to find the one linked to the subject
    the provider vouched for. Read-only and not audited (every sign-in would grow the chain);
    the login context can't do it, as it finds staff rows by e-mail address only."""
    return bureau_reader_context(provider.bureau_id, purpose=f"oidc-provider:{provider.id}")


_STAFF_COLUMNS = (
    StaffUser.id,
    StaffUser.bureau,
    StaffUser.active,
    StaffUser.is_platform_operator,
    StaffUser.oidc_issuer,
    StaffUser.oidc_subject,
)


async def _match_staff_user(provider: _Provider, identity: oidc_protocol.VerifiedIdentity) -> UUID:
    """The staff member linked to (issuer, subject); else, once, the one whose address the
    provider verified, who is then linked. An address that is already linked to another
    subject of the same provider is refused: the address changed hands at the provider."""
    reader = _provider_reader(provider)
    async with tenant_transaction(reader):
        linked = (
            await scoped(StaffUser.select(*_STAFF_COLUMNS), StaffUser, reader)
            .where(
                (StaffUser.bureau == provider.bureau_id)
                & (StaffUser.oidc_issuer == identity.issuer)
                & (StaffUser.oidc_subject == identity.subject)
            )
            .first()
        )
    if linked is not None:
        if not _may_sign_in(linked, provider):
            raise SsoRefused("no_account")
        staff_user_id: UUID = linked["id"]
        return staff_user_id

    email = accounts.normalise_email(identity.email or "")
    if not email or not identity.email_verified:
        raise SsoRefused("no_account")
    lookup = login_context(email)
    async with tenant_transaction(lookup):
        row = (
            await scoped(StaffUser.select(*_STAFF_COLUMNS), StaffUser, lookup)
            .where(StaffUser.email == email)
            .first()
        )
    if row is None or not _may_sign_in(row, provider):
        raise SsoRefused("no_account")
    if row["oidc_issuer"] == identity.issuer and row["oidc_subject"] not in (None, ""):
        raise SsoRefused("linked_to_other_subject")
    await _link(provider, row["id"], identity)
    staff_user_id = row["id"]
    return staff_user_id


async def _link(
    provider: _Provider, staff_user_id: UUID, identity: oidc_protocol.VerifiedIdentity
) -> None:
    """Store the subject on the staff row. Nobody is signed in yet and the login context is
    read-only, so this write runs in a system context: rare (once per person) and audited."""
    ctx = system_context("oidc-link")
    async with tenant_transaction(ctx):
        changed = (
            await StaffUser.update(
                {StaffUser.oidc_issuer: identity.issuer, StaffUser.oidc_subject: identity.subject}
            )
            .where(
                (StaffUser.id == staff_user_id)
                & (StaffUser.bureau == provider.bureau_id)
                & (StaffUser.active == True)  # noqa: E712 - a SQL comparison
            )
            .returning(StaffUser.id)
        )
        if not changed:
            raise SsoRefused("no_account")
        await audit.record(
            ctx,
            action="staff_user.oidc_linked",
            bureau_id=provider.bureau_id,
            subject_type="staff_user",
            subject_id=staff_user_id,
            detail={"provider": str(provider.id)},
        )

"""Staff sign-in: the password, then the second factor; sessions with stages; sign-out.

A sign-in moves a session through stages. A correct password gives a session in the
"password_ok" stage (a TOTP code or a recovery code is still due) or, for someone without a
TOTP yet, "needs_enrolment". Only a "full" session becomes a tenant context, and the session
token changes when it becomes full (a token seen before sign-in is worthless after it).

Before anyone is known, the staff row is read under a login context, which sees exactly the
row with the typed e-mail address (and is not audited: anonymous attempts must not grow the
audit chain). Afterwards the principal's own context reads its own TOTP secret and codes.

Every refusal of a password, a code or an unknown address is the same `SignInRefused`, and
each attempt counts against two limits kept in the database (so they hold across
processes): per account and per client address, both under keyed hashes.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from klankbord import audit, ratelimit, totp
from klankbord.errors import DomainError, NotFound
from klankbord.passwords import MAX_LENGTH, verify_password
from klankbord.secretbox import SecretBox
from klankbord.tenancy import (
    Role,
    TenantContext,
    login_context,
    platform_context,
    principal_context,
    scoped,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants.tables import (
    Membership,
    OidcLogin,
    StaffRecoveryCode,
    StaffSession,
    StaffToken,
    StaffTotp,
    StaffUser,
)

log = logging.getLogger("klankbord.accounts")

ABSOLUTE_LIFETIME = timedelta(hours=12)
IDLE_TIMEOUT = timedelta(minutes=30)
PENDING_LIFETIME = timedelta(minutes=15)  # from password to second factor or enrolment
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often

# Attempts per window, per account and per client address (keyed hashes of both).
WINDOW_SECONDS = 15 * 60
ACCOUNT_LIMIT = 10
ADDRESS_LIMIT = 50


class Stage(StrEnum):
    PASSWORD_OK = "password_ok"  # noqa: S105 (a stage name)
    NEEDS_ENROLMENT = "needs_enrolment"
    FULL = "full"


@dataclass(frozen=True)
class Session:
    id: UUID
    staff_user_id: UUID
    stage: Stage
    next_path: str


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = IDLE_TIMEOUT
    absolute: timedelta = ABSOLUTE_LIFETIME


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


class SignInRefused(DomainError):
    """Wrong password, wrong code, unknown address, inactive account: one answer for all."""

    code = "sign_in_failed"
    status = 400


class TooManyAttempts(DomainError):
    code = "too_many_attempts"
    status = 429

    def __init__(self, retry_after_minutes: int) -> None:
        super().__init__(code=self.code)
        self.retry_after_minutes = retry_after_minutes


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


# --- attempt limits -----------------------------------------------------------------------


async def count_attempt(box: SecretBox, purpose: str, *, account: str, address: str) -> None:
    """Count one attempt; `TooManyAttempts` once either limit is used up. Runs in its own
    statement (outside the caller's transaction), so a refused attempt still counts."""
    decisions = [
        await ratelimit.hit(
            box.keyed_hash(f"{purpose}:account", account),
            limit=ACCOUNT_LIMIT,
            window=WINDOW_SECONDS,
        ),
        await ratelimit.hit(
            box.keyed_hash(f"{purpose}:address", address or "-"),
            limit=ADDRESS_LIMIT,
            window=WINDOW_SECONDS,
        ),
    ]
    refused = [decision for decision in decisions if not decision.allowed]
    if refused:
        log.info("sign-in attempts limited (%s)", purpose)
        raise TooManyAttempts(max(decision.retry_after_minutes for decision in refused))


async def clear_account(box: SecretBox, purpose: str, account: str) -> None:
    """Forget the failed attempts counted for `account` (after a success, or a reset)."""
    await ratelimit.clear(box.keyed_hash(f"{purpose}:account", account))


# --- sessions -----------------------------------------------------------------------------


async def start_session(
    staff_user_id: UUID,
    *,
    stage: Stage = Stage.FULL,
    next_path: str = "/",
    policy: SessionPolicy | None = None,
) -> str:
    """A new server-side session; returns the cookie token (only its hash is stored)."""
    policy = policy or SessionPolicy()
    token = secrets.token_urlsafe(32)
    now = _now()
    lifetime = policy.absolute if stage is Stage.FULL else min(PENDING_LIFETIME, policy.absolute)
    await StaffSession.insert(
        StaffSession(
            token_hash=_token_hash(token),
            staff_user=staff_user_id,
            stage=stage.value,
            next_path=next_path,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


async def session_for_token(token: str, policy: SessionPolicy | None = None) -> Session | None:
    """The live session behind a cookie token; None when unknown, expired or idle too long
    (an expired or idle session is deleted on the way)."""
    policy = policy or SessionPolicy()
    row = await StaffSession.select().where(StaffSession.token_hash == _token_hash(token)).first()
    if row is None:
        return None
    now = _now()
    if row["expires_at"] <= now or row["last_seen_at"] + policy.idle <= now:
        await StaffSession.delete().where(StaffSession.id == row["id"])
        return None
    if row["last_seen_at"] + TOUCH_EVERY <= now:
        await StaffSession.update({StaffSession.last_seen_at: now}).where(
            StaffSession.id == row["id"]
        )
    return Session(
        id=row["id"],
        staff_user_id=row["staff_user"],
        stage=Stage(row["stage"]),
        next_path=row["next_path"],
    )


async def end_session(token: str) -> None:
    await StaffSession.delete().where(StaffSession.token_hash == _token_hash(token))


async def _promote(session: Session, policy: SessionPolicy | None) -> str:
    """The session becomes full under a new token; the old token stops working."""
    await StaffSession.delete().where(StaffSession.id == session.id)
    return await start_session(
        session.staff_user_id, stage=Stage.FULL, next_path=session.next_path, policy=policy
    )


async def context_for_user(staff_user_id: UUID) -> TenantContext | None:
    """The principal's context with its bureau and memberships; None when inactive."""
    lookup = principal_context(staff_user_id)
    async with tenant_transaction(lookup):
        user = (
            await scoped(StaffUser.select(), StaffUser, lookup)
            .where(StaffUser.id == staff_user_id)
            .first()
        )
        if user is None or not user["active"]:
            return None
        memberships = await scoped(
            Membership.select(Membership.organisation, Membership.role), Membership, lookup
        ).where(Membership.staff_user == staff_user_id)
    if user["is_platform_operator"]:
        return platform_context(staff_user_id)
    return staff_context(
        staff_user_id=staff_user_id,
        bureau_id=user["bureau"],
        bureau_admin=user["is_bureau_admin"],
        organisation_roles=[(m["organisation"], Role(m["role"])) for m in memberships],
    )


async def context_for_session(token: str) -> TenantContext | None:
    """The principal behind a full session's cookie; None for any other."""
    session = await session_for_token(token)
    if session is None or session.stage is not Stage.FULL:
        return None
    return await context_for_user(session.staff_user_id)


async def sign_out(ctx: TenantContext, token: str) -> None:
    await end_session(token)
    await _audit(ctx, "staff.signed_out")


async def sign_out_everywhere(ctx: TenantContext) -> int:
    """End every session of the principal (this one too); returns how many ended."""
    if ctx.staff_user_id is None:
        raise NotFound()
    ended = (
        await StaffSession.delete()
        .where(StaffSession.staff_user == ctx.staff_user_id)
        .returning(StaffSession.id)
    )
    await _audit(ctx, "staff.signed_out_everywhere", {"sessions": len(ended)})
    return len(ended)


async def _audit(ctx: TenantContext, action: str, detail: dict[str, Any] | None = None) -> None:
    if ctx.staff_user_id is None:
        raise NotFound()
    async with tenant_transaction(ctx):
        await audit.record(
            ctx,
            action=action,
            bureau_id=ctx.bureau_id,
            subject_type="staff_user",
            subject_id=ctx.staff_user_id,
            detail=detail or {},
        )


# --- the password -------------------------------------------------------------------------


async def sign_in_with_password(
    box: SecretBox,
    *,
    email: str,
    password: str,
    address: str,
    next_path: str = "/",
    policy: SessionPolicy | None = None,
) -> tuple[str, Stage]:
    """A session in the stage after the password; `SignInRefused` for anything wrong."""
    email = normalise_email(email)
    await count_attempt(box, "password", account=email, address=address)
    user = None
    if email:
        lookup = login_context(email)
        async with tenant_transaction(lookup):
            user = (
                await scoped(
                    StaffUser.select(StaffUser.id, StaffUser.password_hash, StaffUser.active),
                    StaffUser,
                    lookup,
                )
                .where(StaffUser.email == email)
                .first()
            )
    # The hash is checked even for an unknown address (against a dummy), so timing says
    # nothing about which addresses exist.
    # No password longer than the rules allow was ever set; hashing megabytes would only
    # burn CPU, so such an attempt is checked against the dummy hash instead.
    stored = user["password_hash"] if user and len(password) <= MAX_LENGTH else None
    correct = await verify_password(stored, password[:MAX_LENGTH])
    if user is None or not correct or not user["active"]:
        raise SignInRefused()
    staff_user_id: UUID = user["id"]
    stage = Stage.PASSWORD_OK if await has_totp(staff_user_id) else Stage.NEEDS_ENROLMENT
    token = await start_session(staff_user_id, stage=stage, next_path=next_path, policy=policy)
    return token, stage


async def has_totp(staff_user_id: UUID) -> bool:
    ctx = principal_context(staff_user_id)
    async with tenant_transaction(ctx):
        return bool(
            await scoped(StaffTotp.exists(), StaffTotp, ctx).where(
                StaffTotp.confirmed_at.is_not_null()
            )
        )


# --- the second factor --------------------------------------------------------------------


def _totp_context(staff_user_id: UUID) -> str:
    return f"totp:{staff_user_id}"


def _recovery_hash(box: SecretBox, staff_user_id: UUID, code: str) -> str:
    return box.keyed_hash(f"recovery:{staff_user_id}", totp.normalise_recovery_code(code))


async def verify_second_factor(
    box: SecretBox,
    session: Session,
    *,
    code: str,
    address: str,
    policy: SessionPolicy | None = None,
) -> tuple[str, bool]:
    """Accept a TOTP code (never one already used) or a recovery code (deleted on use).

    Returns the new token of the now full session, and whether a recovery code was used.
    """
    if session.stage is not Stage.PASSWORD_OK:
        raise SignInRefused()
    uid = session.staff_user_id
    await count_attempt(box, "second_factor", account=str(uid), address=address)
    ctx = principal_context(uid)
    used_recovery = False
    async with tenant_transaction(ctx):
        row = (
            await scoped(StaffTotp.select(), StaffTotp, ctx)
            .where(StaffTotp.confirmed_at.is_not_null())
            .first()
        )
        if row is None:
            raise SignInRefused()
        secret = box.open(row["secret_sealed"], context=_totp_context(uid))
        step = totp.accepted_step(secret, code, last_step=row["last_step"])
        if step is not None:
            # Conditional: of two requests with the same code, only one moves the step.
            moved = (
                await scoped(StaffTotp.update({StaffTotp.last_step: step}), StaffTotp, ctx)
                .where(
                    (StaffTotp.id == row["id"])
                    & (StaffTotp.last_step.is_null() | (StaffTotp.last_step < step))
                )
                .returning(StaffTotp.id)
            )
            if not moved:
                step = None
        if step is None:
            deleted = (
                await scoped(StaffRecoveryCode.delete(), StaffRecoveryCode, ctx)
                .where(StaffRecoveryCode.code_hash == _recovery_hash(box, uid, code))
                .returning(StaffRecoveryCode.id)
            )
            if not deleted:
                raise SignInRefused()
            used_recovery = True
    token = await _promote(session, policy)
    await clear_account(box, "second_factor", str(uid))
    await _clear_account_of_user(box, uid)
    full = await context_for_user(uid)
    if full is None:
        await end_session(token)
        raise SignInRefused()
    await _audit(full, "staff.signed_in", {"method": "recovery_code" if used_recovery else "totp"})
    return token, used_recovery


async def _clear_account_of_user(box: SecretBox, staff_user_id: UUID) -> None:
    """After a full sign-in, the password attempts of the account start from zero."""
    ctx = principal_context(staff_user_id)
    async with tenant_transaction(ctx):
        row = (
            await scoped(StaffUser.select(StaffUser.email), StaffUser, ctx)
            .where(StaffUser.id == staff_user_id)
            .first()
        )
    if row is not None:
        await clear_account(box, "password", row["email"])


async def enrolment(box: SecretBox, session: Session) -> Enrolment:
    """The secret to enrol (made on the first visit, the same on a reload) and its QR code."""
    if session.stage is not Stage.NEEDS_ENROLMENT:
        raise NotFound()
    uid = session.staff_user_id
    ctx = principal_context(uid)
    async with tenant_transaction(ctx):
        row = await scoped(StaffTotp.select(), StaffTotp, ctx).first()
        if row is not None and row["confirmed_at"] is not None:
            raise NotFound()
        if row is None:
            secret = totp.new_secret()
            await StaffTotp.insert(
                StaffTotp(
                    staff_user=uid,
                    secret_sealed=box.seal(secret, context=_totp_context(uid)),
                )
            )
        else:
            secret = box.open(row["secret_sealed"], context=_totp_context(uid))
        user = (
            await scoped(StaffUser.select(StaffUser.email), StaffUser, ctx)
            .where(StaffUser.id == uid)
            .first()
        )
    account = user["email"] if user else str(uid)
    uri = totp.provisioning_uri(secret, account=account)
    return Enrolment(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))


async def confirm_enrolment(
    box: SecretBox,
    session: Session,
    *,
    code: str,
    address: str,
    policy: SessionPolicy | None = None,
) -> tuple[str, list[str]]:
    """A first correct code confirms the TOTP; returns the full session's token and the
    recovery codes (shown once, stored as keyed hashes)."""
    if session.stage is not Stage.NEEDS_ENROLMENT:
        raise SignInRefused()
    uid = session.staff_user_id
    await count_attempt(box, "second_factor", account=str(uid), address=address)
    ctx = principal_context(uid)
    codes = totp.new_recovery_codes()
    async with tenant_transaction(ctx):
        row = (
            await scoped(StaffTotp.select(), StaffTotp, ctx)
            .where(StaffTotp.confirmed_at.is_null())
            .first()
        )
        if row is None:
            raise SignInRefused()
        secret = box.open(row["secret_sealed"], context=_totp_context(uid))
        step = totp.accepted_step(secret, code, last_step=None)
        if step is None:
            raise SignInRefused()
        await scoped(
            StaffTotp.update({StaffTotp.confirmed_at: _now(), StaffTotp.last_step: step}),
            StaffTotp,
            ctx,
        ).where(StaffTotp.id == row["id"])
        await _replace_recovery_codes(box, ctx, uid, codes)
    token = await _promote(session, policy)
    await clear_account(box, "second_factor", str(uid))
    await _clear_account_of_user(box, uid)
    full = await context_for_user(uid)
    if full is None:
        await end_session(token)
        raise SignInRefused()
    await _audit(full, "staff.totp_enrolled")
    await _audit(full, "staff.signed_in", {"method": "totp"})
    return token, codes


async def _replace_recovery_codes(
    box: SecretBox, ctx: TenantContext, staff_user_id: UUID, codes: list[str]
) -> None:
    await scoped(StaffRecoveryCode.delete(), StaffRecoveryCode, ctx).where(
        StaffRecoveryCode.staff_user == staff_user_id
    )
    await StaffRecoveryCode.insert(
        *[
            StaffRecoveryCode(
                staff_user=staff_user_id, code_hash=_recovery_hash(box, staff_user_id, code)
            )
            for code in codes
        ]
    )


async def new_recovery_codes(box: SecretBox, ctx: TenantContext) -> list[str]:
    """Fresh recovery codes for the signed-in principal; the old ones stop working."""
    if ctx.staff_user_id is None:
        raise NotFound()
    uid = ctx.staff_user_id
    own = principal_context(uid)
    codes = totp.new_recovery_codes()
    async with tenant_transaction(own):
        await _replace_recovery_codes(box, own, uid, codes)
    await _audit(ctx, "staff.recovery_codes_renewed")
    return codes


async def recovery_codes_left(ctx: TenantContext) -> int:
    if ctx.staff_user_id is None:
        return 0
    own = principal_context(ctx.staff_user_id)
    async with tenant_transaction(own):
        return int(await scoped(StaffRecoveryCode.count(), StaffRecoveryCode, own))


async def reset_second_factor(ctx: TenantContext, *, staff_user_id: UUID) -> None:
    """A bureau admin clears a staff member's TOTP and recovery codes (phone and codes both
    lost): their sessions end, and the next sign-in, with their password, enrols anew.

    The rows are private to their owner, so the deletion runs in an audited system context,
    after the admin's own context has shown that the person is staff of the admin's bureau.
    """
    if not ctx.bureau_admin or ctx.staff_user_id == staff_user_id:
        raise NotFound()
    async with tenant_transaction(ctx):
        found = await scoped(StaffUser.exists(), StaffUser, ctx).where(
            (StaffUser.id == staff_user_id) & (StaffUser.bureau == ctx.bureau_id)
        )
    if not found:
        raise NotFound()
    system = system_context("second-factor-reset")
    async with tenant_transaction(system):
        await StaffTotp.delete().where(StaffTotp.staff_user == staff_user_id)
        await StaffRecoveryCode.delete().where(StaffRecoveryCode.staff_user == staff_user_id)
        await StaffSession.delete().where(StaffSession.staff_user == staff_user_id)
    await _audit(ctx, "staff.second_factor_reset", {"staff_user": str(staff_user_id)})


async def purge_expired(policy: SessionPolicy | None = None, *, now: datetime | None = None) -> str:
    """Delete sessions past their limits, mail links expired more than a week ago, and
    abandoned single sign-on attempts; a job, idempotent. Returns counts."""
    policy = policy or SessionPolicy()
    now = (now or _now()).astimezone(UTC)
    sessions = (
        await StaffSession.delete()
        .where((StaffSession.expires_at <= now) | (StaffSession.last_seen_at <= now - policy.idle))
        .returning(StaffSession.id)
    )
    tokens = (
        await StaffToken.delete()
        .where(StaffToken.expires_at <= now - timedelta(days=7))
        .returning(StaffToken.id)
    )
    logins = await OidcLogin.delete().where(OidcLogin.expires_at <= now).returning(OidcLogin.id)
    return f"{len(sessions)} sessions, {len(tokens)} links, {len(logins)} sign-on attempts removed"

"""Staff invitations and password resets: single-use links sent by mail.

A bureau admin invites a staff member: the account is created without a password, with its
memberships, a link token and the mail, all in one transaction (a failure stores nothing, a
mail exists exactly when its account does). Following the link, the invitee chooses a
password and goes on to TOTP enrolment. A forgotten password is replaced the same way: a
30-minute link, after which every session of the account ends and the person signs in as
usual (password, then the second factor).

Only the SHA-256 of a link token is stored (`StaffToken`); a token is used with a
conditional update (`used_at IS NULL`), so two tabs or two clicks can never both use it.
Nobody is signed in when a link is followed, so the password is written under a system
context with its own reason (rare, and audited). A reset request answers the same whether or
not the address belongs to anyone, and does about the same database work either way.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from asyncpg.exceptions import UniqueViolationError

from klankbord import audit, mail
from klankbord.errors import Conflict, DomainError, Invalid, NotFound, PermissionDenied
from klankbord.passwords import hash_password, password_problem
from klankbord.secretbox import SecretBox
from klankbord.settings import LANGUAGES, Settings
from klankbord.tenancy import (
    Scope,
    TenantContext,
    login_context,
    principal_context,
    scoped,
    system_context,
    tenant_transaction,
)
from tenants import accounts, services
from tenants.access import access_bureau
from tenants.choices import MembershipRole
from tenants.tables import StaffSession, StaffToken, StaffUser

INVITATION = "invitation"
PASSWORD_RESET = "password_reset"  # noqa: S105 (a token purpose)
INVITATION_LIFETIME = timedelta(days=7)
RESET_LIFETIME = timedelta(minutes=30)

BUREAU_ADMIN = "bureau_admin"
ROLES = (BUREAU_ADMIN, MembershipRole.COUNSELLOR.value, MembershipRole.ORGANISATION_CONTACT.value)


class TokenState(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    USED = "used"
    UNKNOWN = "unknown"  # never issued, tampered with, or for another purpose


class LinkNotValid(DomainError):
    """An invitation or reset link that can no longer be used; the page says what to do."""

    code = "link_not_valid"
    status = 410

    def __init__(self, state: TokenState) -> None:
        super().__init__(code=self.code)
        self.state = state
        self.status = 404 if state is TokenState.UNKNOWN else 410


@dataclass(frozen=True)
class Invitee:
    display_name: str
    email: str


@dataclass(frozen=True)
class _Link:
    token_id: UUID
    staff_user_id: UUID
    state: TokenState


def _now() -> datetime:
    return datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- inviting -----------------------------------------------------------------------------


async def invite_staff(
    ctx: TenantContext,
    settings: Settings,
    *,
    email: str,
    display_name: str,
    role: str,
    organisation_ids: list[UUID],
    language: str,
) -> UUID:
    """Create a staff member without a password and mail them a 7-day invitation link.

    Only a bureau admin invites, into their own bureau. A counsellor or an organisation
    contact needs at least one organisation; an organisation of another bureau is
    `NotFound`, and nothing at all is stored then.
    """
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    email = accounts.normalise_email(email)
    display_name = display_name.strip()
    problems = _invitation_problems(email, display_name, role, organisation_ids, language)
    if problems:
        raise Invalid(fields=problems)
    # E-mail addresses are unique across the platform, but the admin's context sees only its
    # own bureau's staff (RLS): the login context looks the address up everywhere.
    if await _email_taken(email):
        raise Conflict(code="email_taken")
    bureau_id = ctx.bureau_id
    try:
        async with tenant_transaction(ctx):
            staff_user_id = await services.create_staff_user(
                ctx,
                bureau_id=bureau_id,
                email=email,
                display_name=display_name,
                bureau_admin=role == BUREAU_ADMIN,
                language=language,
            )
            if role != BUREAU_ADMIN:
                for organisation_id in dict.fromkeys(organisation_ids):
                    await services.add_membership(
                        ctx,
                        organisation_id=organisation_id,
                        staff_user_id=staff_user_id,
                        role=MembershipRole(role),
                    )
            bureau = await access_bureau(ctx, bureau_id)
            await _send_invitation(
                settings,
                staff_user_id=staff_user_id,
                bureau_id=bureau_id,
                bureau_name=bureau["name"],
                email=email,
                display_name=display_name,
                language=language,
            )
            await audit.record(
                ctx,
                action="staff.invited",
                bureau_id=bureau_id,
                subject_type="staff_user",
                subject_id=staff_user_id,
                detail={
                    "role": role,
                    "organisations": sorted(str(i) for i in dict.fromkeys(organisation_ids)),
                },
            )
    except (UniqueViolationError, sqlite3.IntegrityError):
        # Two invitations of one address at the same moment: the unique index decides.
        raise Conflict(code="email_taken") from None
    return staff_user_id


def _invitation_problems(
    email: str, display_name: str, role: str, organisation_ids: list[UUID], language: str
) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not email:
        problems["email"] = "required"
    elif "@" not in email.strip("@") or len(email) > 254 or any(c.isspace() for c in email):
        problems["email"] = "invalid"
    if not display_name:
        problems["display_name"] = "required"
    elif len(display_name) > 200:
        problems["display_name"] = "too_long"
    if role not in ROLES:
        problems["role"] = "required"
    elif role != BUREAU_ADMIN and not organisation_ids:
        problems["organisations"] = "required"
    if language not in LANGUAGES:
        problems["language"] = "required"
    return problems


async def _email_taken(email: str) -> bool:
    lookup = login_context(email)
    async with tenant_transaction(lookup):
        return bool(
            await scoped(StaffUser.exists(), StaffUser, lookup).where(StaffUser.email == email)
        )


async def resend_invitation(ctx: TenantContext, settings: Settings, *, staff_user_id: UUID) -> None:
    """A new invitation link for someone who has not accepted yet; earlier links stop
    working (the mail may have been lost, or sent to an inbox someone else reads)."""
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin or ctx.bureau_id is None:
        raise PermissionDenied()
    bureau_id = ctx.bureau_id
    async with tenant_transaction(ctx):
        user = (
            await scoped(
                StaffUser.select(
                    StaffUser.id,
                    StaffUser.bureau,
                    StaffUser.email,
                    StaffUser.display_name,
                    StaffUser.language,
                    StaffUser.password_hash,
                    StaffUser.oidc_subject,
                    StaffUser.active,
                ),
                StaffUser,
                ctx,
            )
            .where((StaffUser.id == staff_user_id) & (StaffUser.bureau == bureau_id))
            .first()
        )
        if user is None:
            raise NotFound()
        if user["password_hash"] is not None or user["oidc_subject"] is not None:
            raise Conflict(code="already_accepted")
        if not user["active"]:
            raise Conflict(code="inactive")
        await _end_links(staff_user_id, INVITATION)
        bureau = await access_bureau(ctx, bureau_id)
        await _send_invitation(
            settings,
            staff_user_id=staff_user_id,
            bureau_id=bureau_id,
            bureau_name=bureau["name"],
            email=user["email"],
            display_name=user["display_name"],
            language=user["language"],
        )
        await audit.record(
            ctx,
            action="staff.invitation_resent",
            bureau_id=bureau_id,
            subject_type="staff_user",
            subject_id=staff_user_id,
        )


async def _send_invitation(
    settings: Settings,
    *,
    staff_user_id: UUID,
    bureau_id: UUID,
    bureau_name: str,
    email: str,
    display_name: str,
    language: str,
) -> None:
    token = await _new_link(staff_user_id, INVITATION, INVITATION_LIFETIME)
    _ = mail.translator(settings, language)
    body = "\n\n".join(
        [
            _("Hello %(name)s,", name=display_name),
            _(
                "%(bureau)s has invited you to Klankbord, where the bureau keeps its cases. "
                "Open this link to choose your password:",
                bureau=bureau_name,
            ),
            f"{settings.base_url}/invitation/{token}",
            _(
                "The link works once and expires in 7 days. After choosing a password you "
                "set up a sign-in code with an authenticator app on your phone."
            ),
            _("Did you not expect this e-mail? Then you can ignore it."),
        ]
    )
    await mail.enqueue(email, _("Your invitation to Klankbord"), body + "\n", bureau=bureau_id)


async def send_invitation(
    settings: Settings,
    *,
    staff_user_id: UUID,
    bureau_id: UUID,
    bureau_name: str,
    email: str,
    display_name: str,
    language: str,
) -> None:
    """The invitation link and mail for an account someone else just created without a
    password (a new bureau's first admin, made by the platform operator). Call it inside the
    transaction that created the account, so the mail exists exactly when the account does."""
    await _send_invitation(
        settings,
        staff_user_id=staff_user_id,
        bureau_id=bureau_id,
        bureau_name=bureau_name,
        email=email,
        display_name=display_name,
        language=language,
    )


# --- links --------------------------------------------------------------------------------


async def _new_link(staff_user_id: UUID, purpose: str, lifetime: timedelta) -> str:
    """A new link token (256 random bits); only its hash is stored."""
    token = secrets.token_urlsafe(32)
    now = _now()
    await StaffToken.insert(
        StaffToken(
            token_hash=_hash(token),
            staff_user=staff_user_id,
            purpose=purpose,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


async def _end_links(staff_user_id: UUID, purpose: str) -> None:
    """Unused links of that purpose expire now (the page then says: ask for a new one)."""
    now = _now()
    await StaffToken.update({StaffToken.expires_at: now}).where(
        (StaffToken.staff_user == staff_user_id)
        & (StaffToken.purpose == purpose)
        & StaffToken.used_at.is_null()
        & (StaffToken.expires_at > now)
    )


async def _find(token: str, purpose: str) -> _Link | None:
    if not token or len(token) > 100:
        return None
    row = (
        await StaffToken.select(
            StaffToken.id, StaffToken.staff_user, StaffToken.expires_at, StaffToken.used_at
        )
        .where((StaffToken.token_hash == _hash(token)) & (StaffToken.purpose == purpose))
        .first()
    )
    if row is None:
        return None
    if row["used_at"] is not None:
        state = TokenState.USED
    elif row["expires_at"] <= _now():
        state = TokenState.EXPIRED
    else:
        state = TokenState.VALID
    return _Link(token_id=row["id"], staff_user_id=row["staff_user"], state=state)


async def _valid_link(token: str, purpose: str) -> tuple[_Link, dict[str, Any]]:
    """The link and its (active) user; `LinkNotValid` otherwise."""
    link = await _find(token, purpose)
    if link is None:
        raise LinkNotValid(TokenState.UNKNOWN)
    if link.state is not TokenState.VALID:
        raise LinkNotValid(link.state)
    own = principal_context(link.staff_user_id)
    async with tenant_transaction(own):
        user = (
            await scoped(
                StaffUser.select(
                    StaffUser.id,
                    StaffUser.bureau,
                    StaffUser.email,
                    StaffUser.display_name,
                    StaffUser.active,
                ),
                StaffUser,
                own,
            )
            .where(StaffUser.id == link.staff_user_id)
            .first()
        )
    if user is None or not user["active"]:
        raise LinkNotValid(TokenState.UNKNOWN)
    return link, user


async def _use_link(link: _Link) -> None:
    """Mark the link used, unless another request did so first (then `LinkNotValid`)."""
    now = _now()
    used = (
        await StaffToken.update({StaffToken.used_at: now})
        .where(
            (StaffToken.id == link.token_id)
            & StaffToken.used_at.is_null()
            & (StaffToken.expires_at > now)
        )
        .returning(StaffToken.id)
    )
    if not used:
        raise LinkNotValid(TokenState.USED)


def _check_password(password: str, confirmation: str | None, user: dict[str, Any]) -> None:
    problem = password_problem(password, [user["display_name"], user["email"]])
    if problem is not None:
        raise Invalid(fields={"password": problem})
    if confirmation is not None and confirmation != password:
        raise Invalid(fields={"confirmation": "mismatch"})


async def invitation_status(token: str) -> TokenState:
    link = await _find(token, INVITATION)
    return TokenState.UNKNOWN if link is None else link.state


async def reset_status(token: str) -> TokenState:
    link = await _find(token, PASSWORD_RESET)
    return TokenState.UNKNOWN if link is None else link.state


async def invitee(token: str) -> Invitee:
    """Who a valid invitation is for (shown on the page, and for password managers)."""
    _link, user = await _valid_link(token, INVITATION)
    return Invitee(display_name=user["display_name"], email=user["email"])


# --- accepting ----------------------------------------------------------------------------


async def accept_invitation(
    box: SecretBox,
    token: str,
    *,
    password: str,
    address: str,
    confirmation: str | None = None,
) -> str:
    """Set the first password; returns the token of a session that goes on to enrol TOTP."""
    await accounts.count_attempt(box, "invitation", account=_hash(token), address=address)
    link, user = await _valid_link(token, INVITATION)
    _check_password(password, confirmation, user)
    password_hash = await hash_password(password)  # before the transaction: ~20 ms of CPU
    ctx = system_context("invitation-accept")
    async with tenant_transaction(ctx):
        await _use_link(link)
        await _end_links(link.staff_user_id, INVITATION)
        await StaffUser.update({StaffUser.password_hash: password_hash}).where(
            StaffUser.id == link.staff_user_id
        )
        await audit.record(
            ctx,
            action="staff.invitation_accepted",
            bureau_id=user["bureau"],
            subject_type="staff_user",
            subject_id=link.staff_user_id,
        )
    return await accounts.start_session(link.staff_user_id, stage=accounts.Stage.NEEDS_ENROLMENT)


# --- password reset -----------------------------------------------------------------------


async def request_reset(box: SecretBox, settings: Settings, *, email: str, address: str) -> None:
    """Mail a 30-minute reset link to an active account with a password; for any other
    address do the same lookups and send nothing. The caller answers the same either way.
    `TooManyAttempts` when the address or the account asked too often."""
    email = accounts.normalise_email(email)[:254]
    await accounts.count_attempt(box, "reset", account=email, address=address)
    # The login context sees exactly the row with this address (or none); token and mail
    # rows are not tenant data, so they are written in the same transaction.
    lookup = login_context(email or "-")
    async with tenant_transaction(lookup):
        user = (
            await scoped(
                StaffUser.select(
                    StaffUser.id,
                    StaffUser.bureau,
                    StaffUser.display_name,
                    StaffUser.language,
                    StaffUser.password_hash,
                    StaffUser.active,
                ),
                StaffUser,
                lookup,
            )
            .where(StaffUser.email == email)
            .first()
        )
        # Invited staff who have not accepted yet (no password) follow their invitation;
        # single sign-on accounts have no password to reset.
        known = user is not None and user["active"] and user["password_hash"] is not None
        # The same invalidating statement either way (a random id matches nothing).
        await _end_links(user["id"] if known and user else uuid4(), PASSWORD_RESET)
        if not known or user is None:
            return
        token = await _new_link(user["id"], PASSWORD_RESET, RESET_LIFETIME)
        language = user["language"] if user["language"] in LANGUAGES else "nl"
        _ = mail.translator(settings, language)
        body = "\n\n".join(
            [
                _("Hello %(name)s,", name=user["display_name"]),
                _(
                    "Someone, hopefully you, asked for a new password for your Klankbord "
                    "account. Open this link to choose one:"
                ),
                f"{settings.base_url}/password-reset/{token}",
                _("The link works once and expires in 30 minutes."),
                _(
                    "Did you not ask for this? Then you can ignore this e-mail: your password "
                    "stays the same."
                ),
            ]
        )
        await mail.enqueue(
            email, _("A new password for Klankbord"), body + "\n", bureau=user["bureau"]
        )


async def reset_password(
    box: SecretBox, token: str, *, password: str, confirmation: str | None = None
) -> None:
    """Set a new password with a valid reset link. Every session of the account ends; the
    person then signs in as usual, second factor included."""
    link, user = await _valid_link(token, PASSWORD_RESET)
    _check_password(password, confirmation, user)
    password_hash = await hash_password(password)
    ctx = system_context("password-reset")
    async with tenant_transaction(ctx):
        await _use_link(link)
        await StaffUser.update({StaffUser.password_hash: password_hash}).where(
            StaffUser.id == link.staff_user_id
        )
        ended = (
            await StaffSession.delete()
            .where(StaffSession.staff_user == link.staff_user_id)
            .returning(StaffSession.id)
        )
        await audit.record(
            ctx,
            action="staff.password_reset",
            bureau_id=user["bureau"],
            subject_type="staff_user",
            subject_id=link.staff_user_id,
            detail={"sessions": len(ended)},
        )
    # A locked-out owner can sign in straight away with the new password.
    await accounts.clear_account(box, "password", user["email"])


# --- mail text ----------------------------------------------------------------------------

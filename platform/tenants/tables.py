"""Tenancy tables. Every organisation-owned row carries `organisation` and `bureau` itself.

`tenant_owned` tells `klankbord.tenancy` which columns scope a table; PostgreSQL row-level
security (migration `rls`) enforces the same rule a second time.
"""

from piccolo.columns import (
    UUID,
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from klankbord.tenancy import ReporterAccess, tenant_owned
from tenants.choices import (
    AnonymityMode,
    Assignment,
    Country,
    MembershipRole,
    Procedure,
    Sector,
)

__all__ = [
    "AnonymityMode",
    "Assignment",
    "Bureau",
    "CounsellorCredential",
    "Country",
    "ExternalAuthority",
    "IntakeLink",
    "Membership",
    "MembershipRole",
    "OidcLogin",
    "OidcProvider",
    "Organisation",
    "OrganisationKey",
    "Procedure",
    "ProcedureTemplate",
    "ProcedureText",
    "Sector",
    "StaffRecoveryCode",
    "StaffSession",
    "StaffToken",
    "StaffTotp",
    "StaffUser",
]


@tenant_owned(bureau="id")
class Bureau(Table, tablename="bureau"):
    id = UUID(primary_key=True)
    name = Varchar(length=200, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="id", bureau="bureau", login="id", reporter=ReporterAccess.READ)
class Organisation(Table, tablename="organisation"):
    """A client organisation: the tenant. `name` is its legal name, unique within a bureau.

    `languages` and `procedures` are comma-separated codes (`nl,fr`; `integrity,...`).
    `onboarded_at` is empty while the onboarding wizard is unfinished (`onboarding_step` is
    where it resumes); `export_made_at` records the offboarding export, which must come before
    deletion. Retention defaults are in months (casework applies them). A login context keyed
    by its id reads the row (a reporter's page, once the intake link's token has been found).
    """

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, index=True)
    name = Varchar(length=200)
    country = Varchar(length=2, choices=Country, default=Country.NL)
    sector = Varchar(length=80, choices=Sector, default="")  # "": not given yet
    headcount = Integer(default=0)
    active = Boolean(default=True)
    languages = Varchar(length=20, default="nl")
    procedures = Varchar(length=100, default="")
    onboarding_step = Varchar(length=32, default="profile")
    onboarded_at = Timestamptz(null=True, default=None)
    retention_months_closed = Integer(default=24)
    retention_months_no_follow_up = Integer(default=2)
    plan = Varchar(length=32, default="")
    export_made_at = Timestamptz(null=True, default=None)
    logo = Text(default="")  # base64 of a small image without metadata, shown to reporters
    logo_type = Varchar(length=32, default="")  # its sniffed media type; "" without a logo
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(bureau="bureau", owner="id", login="email", reporter=ReporterAccess.COUNSELLORS)
class StaffUser(Table, tablename="staff_user"):
    """A bureau's staff member, or (bureau empty) a platform operator.

    Invited staff have no password until they accept; `oidc_issuer`/`oidc_subject` link the
    account to its identity at the bureau's provider after the first single sign-on.
    """

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, null=True, index=True)
    email = Varchar(length=254, unique=True)
    display_name = Varchar(length=200)
    password_hash = Varchar(length=255, null=True, default=None, secret=True)
    is_bureau_admin = Boolean(default=False)
    is_platform_operator = Boolean(default=False)
    language = Varchar(length=2, default="nl")
    active = Boolean(default=True)
    oidc_issuer = Varchar(length=500, null=True, default=None)
    oidc_subject = Varchar(length=255, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(
    organisation="organisation", bureau="bureau", owner="staff_user", reporter=ReporterAccess.READ
)
class Membership(Table, tablename="membership"):
    """A staff member's role in one organisation (bureau admin is a bureau-level flag)."""

    id = UUID(primary_key=True)
    staff_user = ForeignKey(StaffUser, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    role = Varchar(length=32, choices=MembershipRole)
    assignment = Varchar(length=16, choices=Assignment, default=Assignment.PRIMARY)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(
    organisation="organisation", bureau="bureau", login="token", reporter=ReporterAccess.READ
)
class IntakeLink(Table, tablename="intake_link"):
    """An organisation's public address for one procedure. `active`: enabled by the bureau
    admin; `retired_at`: replaced by a rotation (the old address then says the link has
    moved). A reporter's request finds its link through a login context on `token`."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    procedure = Varchar(length=32, choices=Procedure)
    token = Varchar(length=64, unique=True)
    anonymity = Varchar(length=32, choices=AnonymityMode, default=AnonymityMode.REPORTER_CHOOSES)
    active = Boolean(default=True)
    retired_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class ExternalAuthority(Table, tablename="external_authority"):
    """A competent authority an organisation's integrity reports may go to (prefilled per
    country at onboarding, editable)."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    name = Varchar(length=200)
    contact = Varchar(length=300, default="")
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(bureau="bureau", reporter=ReporterAccess.READ)
class ProcedureTemplate(Table, tablename="procedure_template"):
    """The bureau's library: a procedure text (markdown) per procedure and language."""

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, index=True)
    procedure = Varchar(length=32, choices=Procedure)
    language = Varchar(length=2)
    body = Text()
    updated_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau", reporter=ReporterAccess.READ)
class ProcedureText(Table, tablename="procedure_text"):
    """An organisation's own version of a procedure text, overriding the bureau's template."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    procedure = Varchar(length=32, choices=Procedure)
    language = Varchar(length=2)
    body = Text()
    updated_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(bureau="bureau")
class CounsellorCredential(Table, tablename="counsellor_credential"):
    """A counsellor's certification (a 4-year cycle) and training hours in that cycle."""

    id = UUID(primary_key=True)
    staff_user = ForeignKey(StaffUser, unique=True)
    bureau = ForeignKey(Bureau, index=True)
    certified_on = Date(null=True, default=None)
    expires_on = Date(null=True, default=None)
    training_hours = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau", reporter=ReporterAccess.READ)
class OrganisationKey(Table, tablename="organisation_key"):
    """The organisation's data key, wrapped by the key-encryption key of a `KeyProvider`.
    Deleting this row at offboarding makes every copy of the organisation's sealed content,
    backups included, unreadable."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, unique=True)
    bureau = ForeignKey(Bureau, index=True)
    key_id = Varchar(length=200)
    wrapped_key = Text(secret=True)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffSession(Table, tablename="staff_session"):
    """Server-side staff sessions. Not tenant-owned: it is read before any tenant context
    exists, and holds only the SHA-256 of the cookie token, the user id, a stage and times.

    `stage`: "password_ok" (the second factor is still due), "needs_enrolment" (no TOTP yet),
    "full" (signed in). Only a full session gives a tenant context.
    """

    id = UUID(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    staff_user = ForeignKey(StaffUser, index=True)
    stage = Varchar(length=24, default="password_ok")
    next_path = Varchar(length=500, default="/")
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()


@tenant_owned(owner="staff_user")
class StaffTotp(Table, tablename="staff_totp"):
    """A staff member's TOTP secret (sealed with `SecretBox`, context "totp:<user id>") and
    the time step of the last accepted code, so a code is never accepted twice. Private to
    its owner: not even a bureau admin reads it."""

    id = UUID(primary_key=True)
    staff_user = ForeignKey(StaffUser, unique=True)
    secret_sealed = Text(secret=True)
    confirmed_at = Timestamptz(null=True, default=None)
    last_step = BigInt(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(owner="staff_user")
class StaffRecoveryCode(Table, tablename="staff_recovery_code"):
    """One-time recovery codes, as keyed hashes; a used code is deleted."""

    id = UUID(primary_key=True)
    staff_user = ForeignKey(StaffUser, index=True)
    code_hash = Varchar(length=64)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffToken(Table, tablename="staff_token"):
    """Single-use links sent by mail: invitations (7 days) and password resets (30 minutes).
    Not tenant-owned: followed before anyone is signed in; holds only the SHA-256 of the
    token, the user id, the purpose and times."""

    id = UUID(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    staff_user = ForeignKey(StaffUser, index=True)
    purpose = Varchar(length=16)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)


@tenant_owned(bureau="bureau", login="id")
class OidcProvider(Table, tablename="oidc_provider"):
    """A bureau's identity provider for single sign-on (one per bureau); the client secret is
    sealed with `SecretBox` (context "oidc:<bureau id>")."""

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, unique=True)
    issuer = Varchar(length=500)
    client_id = Varchar(length=255)
    client_secret_sealed = Text(secret=True)
    enabled = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class OidcLogin(Table, tablename="oidc_login"):
    """A single sign-on attempt between leaving for the provider and coming back (10 minutes).
    Not tenant-owned: found by the SHA-256 of its state; the nonce and PKCE verifier are
    sealed."""

    id = UUID(primary_key=True)
    state_hash = Varchar(length=64, unique=True)
    provider = ForeignKey(OidcProvider, index=True)
    browser_hash = Varchar(length=64)
    sealed = Text(secret=True)
    next_path = Varchar(length=500, default="/")
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()

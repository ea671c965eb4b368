"""Tenancy tables. Every organisation-owned row carries `organisation` and `bureau` itself.

`tenant_owned` tells `klankbord.tenancy` which columns scope a table; PostgreSQL row-level
security (migration `rls`) enforces the same rule a second time.
"""

from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from klankbord.tenancy import tenant_owned
from tenants.choices import AnonymityMode, Country, MembershipRole, Procedure

__all__ = [
    "AnonymityMode",
    "Bureau",
    "Country",
    "IntakeLink",
    "Membership",
    "MembershipRole",
    "Organisation",
    "Procedure",
    "StaffSession",
    "StaffUser",
]


@tenant_owned(bureau="id")
class Bureau(Table, tablename="bureau"):
    id = UUID(primary_key=True)
    name = Varchar(length=200, unique=True)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="id", bureau="bureau")
class Organisation(Table, tablename="organisation"):
    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, index=True)
    name = Varchar(length=200)
    country = Varchar(length=2, choices=Country, default=Country.NL)
    sector = Varchar(length=80, default="")
    headcount = Integer(default=0)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(bureau="bureau", owner="id")
class StaffUser(Table, tablename="staff_user"):
    """A bureau's staff member, or (bureau empty) a platform operator."""

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, null=True, index=True)
    email = Varchar(length=254, unique=True)
    display_name = Varchar(length=200)
    password_hash = Varchar(length=255, null=True, default=None, secret=True)
    is_bureau_admin = Boolean(default=False)
    is_platform_operator = Boolean(default=False)
    language = Varchar(length=2, default="nl")
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau", owner="staff_user")
class Membership(Table, tablename="membership"):
    """A staff member's role in one organisation (bureau admin is a bureau-level flag)."""

    id = UUID(primary_key=True)
    staff_user = ForeignKey(StaffUser, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    role = Varchar(length=32, choices=MembershipRole)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class IntakeLink(Table, tablename="intake_link"):
    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    procedure = Varchar(length=32, choices=Procedure)
    token = Varchar(length=64, unique=True)
    anonymity = Varchar(length=32, choices=AnonymityMode, default=AnonymityMode.REPORTER_CHOOSES)
    active = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffSession(Table, tablename="staff_session"):
    """Server-side staff sessions. Not tenant-owned: it is read before any tenant context
    exists, and holds only the SHA-256 of the cookie token, the user id and times."""

    id = UUID(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    staff_user = ForeignKey(StaffUser, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()

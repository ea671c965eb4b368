"""Who hears about a case: its organisation's counsellors and its bureau's admins.

Jobs (reminders, retention warnings) load them for a whole page of cases in two queries;
`first_in_line` is the one rule for whom a notice goes to first: the counsellor the reporter
chose, else the primary counsellors, else every counsellor of the organisation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from klankbord import mail
from klankbord.settings import Settings
from klankbord.tenancy import TenantContext, scoped
from tenants.choices import Assignment, MembershipRole
from tenants.tables import Membership, StaffUser


def first_in_line(staff: list[dict[str, Any]], chosen: object) -> list[dict[str, Any]]:
    picked = [member for member in staff if chosen and str(member["id"]) == str(chosen)]
    primary = [member for member in staff if member["assignment"] == Assignment.PRIMARY]
    return picked or primary or staff


@dataclass
class Staff:
    counsellors: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    admins: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    translators: dict[str, Callable[..., str]] = field(default_factory=dict)

    def counsellors_of(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        return self.counsellors.get(UUID(str(case["organisation"])), [])

    def admins_of(self, case: dict[str, Any]) -> list[dict[str, Any]]:
        return self.admins.get(UUID(str(case["bureau"])), [])

    def gettext(self, settings: Settings, language: str) -> Callable[..., str]:
        """The plain-text `_` of a recipient's language (one catalog per language a run)."""
        if language not in self.translators:
            self.translators[language] = mail.translator(settings, language)
        return self.translators[language]


async def load_staff(ctx: TenantContext, cases: list[dict[str, Any]]) -> Staff:
    """The active counsellors of the cases' organisations and the active admins of their
    bureaus (with e-mail address and language), in two queries."""
    staff = Staff()
    if not cases:
        return staff
    organisations = sorted({case["organisation"] for case in cases}, key=str)
    bureaus = sorted({case["bureau"] for case in cases}, key=str)
    members = await scoped(
        Membership.select(
            Membership.organisation,
            Membership.staff_user.as_alias("id"),
            Membership.staff_user.email.as_alias("email"),
            Membership.staff_user.language.as_alias("language"),
            Membership.assignment,
        ),
        Membership,
        ctx,
    ).where(
        Membership.organisation.is_in(organisations)
        & (Membership.role == MembershipRole.COUNSELLOR)
        & (Membership.staff_user.active == True)  # noqa: E712
    )
    admins = await scoped(
        StaffUser.select(StaffUser.id, StaffUser.email, StaffUser.language, StaffUser.bureau),
        StaffUser,
        ctx,
    ).where(
        StaffUser.bureau.is_in(bureaus)
        & (StaffUser.is_bureau_admin == True)  # noqa: E712
        & (StaffUser.active == True)  # noqa: E712
    )
    for member in members:
        staff.counsellors.setdefault(UUID(str(member["organisation"])), []).append(member)
    for admin in admins:
        staff.admins.setdefault(UUID(str(admin["bureau"])), []).append(admin)
    return staff

"""The shared test world: two bureaus, two organisations each, every role present."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from klankbord.tenancy import (
    Role,
    TenantContext,
    platform_context,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants import services
from tenants.choices import MembershipRole, Procedure
from tenants.tables import IntakeLink

BUREAUS = ("A", "B")
ORGANISATIONS = ("A1", "A2", "B1", "B2")
PASSWORD = "correct horse battery staple"


@dataclass
class World:
    bureaus: dict[str, UUID] = field(default_factory=dict)
    organisations: dict[str, UUID] = field(default_factory=dict)
    organisation_names: dict[str, str] = field(default_factory=dict)
    users: dict[str, UUID] = field(default_factory=dict)
    intake_links: dict[str, str] = field(default_factory=dict)  # organisation key -> token
    intake_link_ids: dict[str, UUID] = field(default_factory=dict)  # organisation key -> id

    def bureau_of(self, organisation: str) -> UUID:
        return self.bureaus[organisation[0]]

    def ctx(self, user: str) -> TenantContext:
        """The context a signed-in user gets (as `context_for_session` builds it)."""
        if user == "operator":
            return platform_context(self.users[user])
        if user.startswith("admin_"):
            return staff_context(
                staff_user_id=self.users[user], bureau_id=self.bureaus[user[-1]], bureau_admin=True
            )
        role_name, organisation = user.rsplit("_", 1)
        role = Role.COUNSELLOR if role_name == "counsellor" else Role.ORGANISATION_CONTACT
        return staff_context(
            staff_user_id=self.users[user],
            bureau_id=self.bureau_of(organisation),
            organisation_roles=[(self.organisations[organisation], role)],
        )


ROLES = ("admin_A", "counsellor_A1", "contact_A1", "operator")


async def build_world() -> World:
    world = World()
    ctx = system_context("test-world")
    async with tenant_transaction(ctx):
        for key in BUREAUS:
            world.bureaus[key] = await services.create_bureau(ctx, name=f"Bureau {key}")
            world.users[f"admin_{key}"] = await services.create_staff_user(
                ctx,
                bureau_id=world.bureaus[key],
                email=f"admin.{key.lower()}@example.test",
                display_name=f"Admin {key}",
                password=PASSWORD,
                bureau_admin=True,
            )
        world.users["operator"] = await services.create_staff_user(
            ctx,
            bureau_id=None,
            email="operator@example.test",
            display_name="Operator",
            password=PASSWORD,
            platform_operator=True,
        )
        for key in ORGANISATIONS:
            name = f"Organisation {key}"
            organisation_id = await services.create_organisation(
                ctx,
                bureau_id=world.bureau_of(key),
                name=name,
                headcount=120,
                languages=("nl", "en"),
                procedures=tuple(Procedure),
            )
            world.organisations[key], world.organisation_names[key] = organisation_id, name
            for role in (MembershipRole.COUNSELLOR, MembershipRole.ORGANISATION_CONTACT):
                prefix = "counsellor" if role is MembershipRole.COUNSELLOR else "contact"
                user_id = await services.create_staff_user(
                    ctx,
                    bureau_id=world.bureau_of(key),
                    email=f"{prefix}.{key.lower()}@example.test",
                    display_name=f"{prefix.title()} {key}",
                    password=PASSWORD,
                )
                world.users[f"{prefix}_{key}"] = user_id
                await services.add_membership(
                    ctx, organisation_id=organisation_id, staff_user_id=user_id, role=role
                )
            world.intake_links[key] = await services.create_intake_link(
                ctx, organisation_id=organisation_id, procedure=Procedure.INTEGRITY
            )
            world.intake_link_ids[key] = await _link_id(world.intake_links[key])
    return world


async def _link_id(token: str) -> UUID:
    row = await IntakeLink.select(IntakeLink.id).where(IntakeLink.token == token).first()
    assert row is not None
    return UUID(str(row["id"]))

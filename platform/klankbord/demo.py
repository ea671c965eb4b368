"""Demo data for `make run`: one bureau, two organisations, every role, an intake link per
procedure. Idempotent: a second run finds the bureau and only prints the details again."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from klankbord.tenancy import TenantContext, system_context, tenant_transaction
from tenants import services
from tenants.access import list_intake_links, list_organisations
from tenants.choices import Country, MembershipRole, Procedure

DEMO_BUREAU = "Vertrouwenspunt Demo"
# Shown on screen by `make run`; the demo is for a local machine and refuses production.
DEMO_PASSWORD = "klankbord-demo-2026"  # noqa: S105 - printed to the local operator on purpose
DEMO_USERS = (
    ("beheer@demo.klankbord.test", "Bea Beheer", "bureau_admin"),
    ("anna@demo.klankbord.test", "Anna de Vries", "counsellor"),
    ("youssef@demo.klankbord.test", "Youssef El Amrani", "counsellor"),
    ("hr@demo.klankbord.test", "Hanna Rutten", "organisation_contact"),
)
DEMO_ORGANISATIONS = (
    ("Basisschool De Linde", Country.NL, "education", 64),
    ("Zorggroep Het Anker", Country.BE, "care", 420),
)


@dataclass
class DemoSummary:
    created: bool
    users: list[tuple[str, str, str]] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # organisation, procedure, path


async def seed_demo() -> DemoSummary:
    ctx = system_context("seed-demo")
    async with tenant_transaction(ctx):
        bureau_id = await services.find_bureau(ctx, name=DEMO_BUREAU)
        created = bureau_id is None
        if bureau_id is None:
            bureau_id = await _create(ctx)
        summary = DemoSummary(created=created, users=list(DEMO_USERS))
        for organisation in await list_organisations(ctx):
            if organisation["bureau"] != bureau_id:
                continue
            for link in await list_intake_links(ctx, organisation["id"]):
                summary.links.append(
                    (organisation["name"], link["procedure"], f"/r/{link['token']}")
                )
    return summary


async def _create(ctx: TenantContext) -> UUID:
    bureau_id = await services.create_bureau(ctx, name=DEMO_BUREAU)
    users: dict[str, UUID] = {}
    for email, name, role in DEMO_USERS:
        users[role if role != "counsellor" else email] = await services.create_staff_user(
            ctx,
            bureau_id=bureau_id,
            email=email,
            display_name=name,
            password=DEMO_PASSWORD,
            bureau_admin=role == "bureau_admin",
        )
    anna, youssef = users["anna@demo.klankbord.test"], users["youssef@demo.klankbord.test"]
    for index, (name, country, sector, headcount) in enumerate(DEMO_ORGANISATIONS):
        organisation_id = await services.create_organisation(
            ctx, bureau_id=bureau_id, name=name, country=country, sector=sector, headcount=headcount
        )
        counsellors = (anna, youssef) if index == 0 else (youssef,)
        for staff_user_id in counsellors:
            await services.add_membership(
                ctx,
                organisation_id=organisation_id,
                staff_user_id=staff_user_id,
                role=MembershipRole.COUNSELLOR,
            )
        if index == 0:
            await services.add_membership(
                ctx,
                organisation_id=organisation_id,
                staff_user_id=users["organisation_contact"],
                role=MembershipRole.ORGANISATION_CONTACT,
            )
        for procedure in Procedure:
            await services.create_intake_link(
                ctx, organisation_id=organisation_id, procedure=procedure
            )
    return bureau_id

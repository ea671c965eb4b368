"""Demo data for `make run`: one bureau, two organisations onboarded through the onboarding
services (languages, procedures, counsellors, competent authorities, retention), every role,
an intake link per procedure. Idempotent: a second run finds the bureau and only prints the
details again."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from klankbord.tenancy import TenantContext, system_context, tenant_transaction
from tenants import assignments, onboarding, services
from tenants.access import list_intake_links, list_organisations
from tenants.choices import Assignment, Country, MembershipRole, Procedure

DEMO_BUREAU = "Vertrouwenspunt Demo"
# Shown on screen by `make run`; the demo is for a local machine and refuses production.
DEMO_PASSWORD = "klankbord-demo-2026"  # noqa: S105 - printed to the local operator on purpose
DEMO_USERS = (
    ("beheer@demo.klankbord.test", "Bea Beheer", "bureau_admin"),
    ("anna@demo.klankbord.test", "Anna de Vries", "counsellor"),
    ("youssef@demo.klankbord.test", "Youssef El Amrani", "counsellor"),
    ("hr@demo.klankbord.test", "Hanna Rutten", "organisation_contact"),
    # A second bureau admin (the browser test of the onboarding wizard signs in as Bram).
    ("bram@demo.klankbord.test", "Bram Bakker", "bureau_admin"),
)
ANNA, YOUSSEF = "anna@demo.klankbord.test", "youssef@demo.klankbord.test"
# name, country, sector, headcount, languages, counsellors (e-mail, assignment)
DEMO_ORGANISATIONS = (
    (
        "Basisschool De Linde",
        Country.NL,
        "education",
        64,
        ("nl", "en"),
        ((ANNA, Assignment.PRIMARY), (YOUSSEF, Assignment.SUBSTITUTE)),
    ),
    (
        "Zorggroep Het Anker",
        Country.BE,
        "care",
        420,
        ("nl", "fr"),
        ((YOUSSEF, Assignment.PRIMARY),),
    ),
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
        users[email] = await services.create_staff_user(
            ctx,
            bureau_id=bureau_id,
            email=email,
            display_name=name,
            password=DEMO_PASSWORD,
            bureau_admin=role == "bureau_admin",
        )
    for index, (name, country, sector, headcount, languages, counsellors) in enumerate(
        DEMO_ORGANISATIONS
    ):
        organisation_id = await services.create_organisation(
            ctx, bureau_id=bureau_id, name=name, country=country, sector=sector, headcount=headcount
        )
        await _onboard(ctx, organisation_id, languages, counsellors, users)
        if index == 0:
            await services.add_membership(
                ctx,
                organisation_id=organisation_id,
                staff_user_id=users["hr@demo.klankbord.test"],
                role=MembershipRole.ORGANISATION_CONTACT,
            )
        for procedure in Procedure:
            await services.create_intake_link(
                ctx, organisation_id=organisation_id, procedure=procedure
            )
    return bureau_id


async def _onboard(
    ctx: TenantContext,
    organisation_id: UUID,
    languages: tuple[str, ...],
    counsellors: tuple[tuple[str, Assignment], ...],
    users: dict[str, UUID],
) -> None:
    """The onboarding wizard's steps, as a bureau admin would take them."""
    await onboarding.save_scope(
        ctx,
        organisation_id=organisation_id,
        languages=list(languages),
        procedures=[procedure.value for procedure in Procedure],
    )
    for email, assignment in counsellors:
        await assignments.assign_counsellor(
            ctx,
            organisation_id=organisation_id,
            staff_user_id=users[email],
            assignment=assignment.value,
        )
    await onboarding.save_counsellors(ctx, organisation_id=organisation_id)
    await onboarding.save_authorities(ctx, organisation_id=organisation_id)
    await onboarding.save_retention(
        ctx, organisation_id=organisation_id, closed="24", no_follow_up="2"
    )
    await onboarding.finish(ctx, organisation_id=organisation_id)

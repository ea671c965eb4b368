"""The shared test world: two bureaus, two organisations each, every role present."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from casework import annual_reports, attachments, intake, question_admin, time_entries
from casework.choices import Anonymity
from casework.tables import Attachment, IntakeQuestion
from klankbord import i18n, keys
from klankbord.secretbox import SecretBox
from klankbord.settings import LANGUAGES, Settings
from klankbord.storage import blob_store
from klankbord.tables import MailOutbox
from klankbord.tenancy import (
    Role,
    TenantContext,
    platform_context,
    staff_context,
    system_context,
    tenant_transaction,
)
from tenants import intake_links, services
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
    case_ids: dict[str, UUID] = field(default_factory=dict)  # organisation key -> a case
    attachment_ids: dict[str, UUID] = field(default_factory=dict)  # a file of that case
    question_ids: dict[str, UUID] = field(default_factory=dict)  # an own intake question
    time_entry_ids: dict[str, UUID] = field(default_factory=dict)  # 30 minutes on that case

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


async def build_world(settings: Settings | None = None) -> World:
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
    if settings is not None:
        for key in ORGANISATIONS:
            world.case_ids[key], world.attachment_ids[key] = await _case(settings, world, key)
            # A1 keeps the built-in questions (tests of the questions pages start from them);
            # its "own question" is an id that exists nowhere.
            world.question_ids[key] = (
                UUID(int=0xA1) if key == "A1" else await _question(settings, world, key)
            )
        for key in ORGANISATIONS:
            # Half an hour a day before (tests that add entries today start from none).
            world.time_entry_ids[key] = await time_entries.add_time_entry(
                world.ctx(f"counsellor_{key}"),
                case_id=world.case_ids[key],
                minutes=30,
                activity="conversation",
                spent_on=time_entries.local_today() - timedelta(days=1),
            )
        for key in ORGANISATIONS:
            # A final annual report of a year without cases (the portal's positive control).
            counsellor = world.ctx(f"counsellor_{key}")
            organisation_id = world.organisations[key]
            await annual_reports.start_report(
                counsellor, organisation_id=organisation_id, year=REPORT_YEAR
            )
            await annual_reports.submit_for_review(
                counsellor, organisation_id=organisation_id, year=REPORT_YEAR
            )
            await annual_reports.finalise(
                counsellor, organisation_id=organisation_id, year=REPORT_YEAR
            )
        # The counsellors' notices of the world's reports: tests of the outbox start empty.
        await MailOutbox.delete(force=True)
    return world


REPORT_YEAR = 2020  # every organisation has a final annual report of this year
QUESTIONS_PROCEDURE = Procedure.REHABILITATION  # own questions (not A1); links use integrity


async def _question(settings: Settings, world: World, key: str) -> UUID:
    """The organisation's own questions for one procedure (a copy of the built-in ones)."""
    catalogs = {
        language: i18n.gettext_callables(
            i18n.translations(settings.frontend_dir / "locales", language), autoescape=False
        )["gettext"]
        for language in LANGUAGES
    }
    await question_admin.customise(
        world.ctx(f"admin_{key[0]}"),
        organisation_id=world.organisations[key],
        procedure=QUESTIONS_PROCEDURE.value,
        catalogs=catalogs,
    )
    async with tenant_transaction(system_context("test-world")):
        row = (
            await IntakeQuestion.select(IntakeQuestion.id)
            .where(IntakeQuestion.organisation == world.organisations[key])
            .order_by(IntakeQuestion.position)
            .first()
        )
    assert row is not None
    return UUID(str(row["id"]))


async def _case(settings: Settings, world: World, key: str) -> tuple[UUID, UUID]:
    """A report through the organisation's intake link, with one text file (as a reporter
    sends it, minus HTTP)."""
    link = await intake_links.reporter_link(world.intake_links[key])
    assert link is not None and link.organisation_id is not None
    ctx = link.context()
    async with tenant_transaction(ctx):
        data_key = await keys.data_key(ctx, organisation_id=link.organisation_id)
    stager = attachments.Stager(
        blob_store(settings),
        data_key=data_key,
        organisation_id=link.organisation_id,
        max_file_bytes=1024 * 1024,
        max_total_bytes=1024 * 1024,
    )
    sink = stager.open_file("files", f"notes {key}.txt", "text/plain")
    await sink.write(f"Notes of organisation {key}\n".encode())
    await sink.close()
    ready = await attachments.finish(stager, keep_originals=False)
    receipt = await intake.submit(
        settings,
        SecretBox(settings.server_key),
        intake.Submission(
            link=link,
            submission=secrets.token_hex(16),
            language="en",
            anonymity=Anonymity.ANONYMOUS,
            asked=[
                {
                    "key": "default:wrongdoing",
                    "label": "What is the suspected wrongdoing?",
                    "kind": "long_text",
                    "answer": f"Report of organisation {key}",
                }
            ],
            files=ready,
        ),
    )
    async with tenant_transaction(system_context("test-world")):
        row = (
            await Attachment.select(Attachment.id).where(Attachment.case == receipt.case_id).first()
        )
    assert row is not None
    return receipt.case_id, UUID(str(row["id"]))


async def _link_id(token: str) -> UUID:
    row = await IntakeLink.select(IntakeLink.id).where(IntakeLink.token == token).first()
    assert row is not None
    return UUID(str(row["id"]))

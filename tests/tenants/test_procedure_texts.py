"""Procedure texts: the bureau's template library, an organisation's own texts, which one
applies (organisation > bureau > built-in), limits and field errors, audit events, and
isolation between bureaus, sibling organisations and roles."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import login_context, system_context, tenant_transaction
from tenants import procedure_texts, services
from tenants.choices import Procedure
from tenants.default_texts import DEFAULT_TEXTS, LANGUAGES, default_text
from tenants.procedure_texts import MAX_BODY, EffectiveText
from tenants.tables import ProcedureTemplate, ProcedureText
from tests.support.forms import submit

LIBRARY = "/bureau/procedure-texts"
EDIT = "/bureau/procedure-texts/edit"
BUREAU_TEXT = "Bureau A says: talk to us first."
OVERRIDE_TEXT = "Organisation A1 has its own text."


@pytest.fixture
def english(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set("klankbord_lang", "en")
    return client


def _texts_page(world: Any, organisation: str) -> str:
    return f"/organisations/{world.organisations[organisation]}/procedure-texts"


async def _stored() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every template and override in the database, whoever owns them."""
    async with tenant_transaction(system_context("test-read")):
        templates = await ProcedureTemplate.select().order_by(ProcedureTemplate.body)
        overrides = await ProcedureText.select().order_by(ProcedureText.body)
    return templates, overrides


async def _events(prefix: str) -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test-read")):
        rows = await AuditEvent.select().order_by(AuditEvent.seq)
    return [row for row in rows if row["action"].startswith(prefix)]


async def _text_for(world: Any, user: str, organisation: str, procedure: Procedure, language: str):
    ctx = world.ctx(user)
    async with tenant_transaction(ctx):
        return await procedure_texts.text_for(
            ctx,
            organisation_id=world.organisations[organisation],
            procedure=procedure,
            language=language,
        )


async def _save_template(world: Any, user: str, body: str, **kwargs: str) -> UUID:
    arguments = {"procedure": "integrity", "language": "nl", **kwargs}
    return await procedure_texts.save_template(world.ctx(user), body=body, **arguments)


async def _save_override(world: Any, organisation: str, body: str, **kwargs: str) -> UUID:
    arguments = {"procedure": "integrity", "language": "nl", **kwargs}
    return await procedure_texts.save_override(
        world.ctx("admin_A"),
        organisation_id=world.organisations[organisation],
        body=body,
        **arguments,
    )


# --- built-in defaults ---------------------------------------------------------------------


def test_default_texts_every_procedure_and_language_present():
    for procedure in Procedure:
        for language in LANGUAGES:
            text = DEFAULT_TEXTS[procedure][language]
            assert text.startswith("## ") and 200 < len(text) < MAX_BODY
    assert default_text(Procedure.INTEGRITY, "de") == DEFAULT_TEXTS[Procedure.INTEGRITY]["en"]


# --- which text applies --------------------------------------------------------------------


async def test_text_for_organisation_over_bureau_over_default(world, rollback):
    integrity = Procedure.INTEGRITY
    assert await _text_for(world, "admin_A", "A1", integrity, "nl") == EffectiveText(
        source="default", body=default_text(integrity, "nl")
    )

    await _save_template(world, "admin_A", BUREAU_TEXT)
    assert await _text_for(world, "admin_A", "A1", integrity, "nl") == EffectiveText(
        source="bureau", body=BUREAU_TEXT
    )
    # Another language, another procedure and another bureau are untouched.
    assert (await _text_for(world, "admin_A", "A1", integrity, "en")).source == "default"
    unwanted = Procedure.UNWANTED_BEHAVIOUR
    assert (await _text_for(world, "admin_A", "A1", unwanted, "nl")).source == "default"
    assert (await _text_for(world, "admin_B", "B1", integrity, "nl")).source == "default"

    await _save_override(world, "A1", OVERRIDE_TEXT)
    assert await _text_for(world, "counsellor_A1", "A1", integrity, "nl") == EffectiveText(
        source="organisation", body=OVERRIDE_TEXT
    )
    assert (await _text_for(world, "admin_A", "A2", integrity, "nl")).body == BUREAU_TEXT

    removed = await procedure_texts.remove_override(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        procedure="integrity",
        language="nl",
    )
    assert removed
    assert (await _text_for(world, "contact_A1", "A1", integrity, "nl")).source == "bureau"
    assert await procedure_texts.remove_template(
        world.ctx("admin_A"), procedure="integrity", language="nl"
    )
    assert (await _text_for(world, "admin_A", "A1", integrity, "nl")).source == "default"


async def test_text_for_outside_tenant_transaction_refused(world, rollback):
    with pytest.raises(RuntimeError):
        await procedure_texts.text_for(
            world.ctx("admin_A"),
            organisation_id=world.organisations["A1"],
            procedure=Procedure.INTEGRITY,
            language="nl",
        )


async def test_text_for_login_context_refused_not_silently_default(world, rollback):
    await _save_override(world, "A1", OVERRIDE_TEXT)
    ctx = login_context(str(world.organisations["A1"]))
    async with tenant_transaction(ctx):
        with pytest.raises(RuntimeError):
            await procedure_texts.text_for(
                ctx,
                organisation_id=world.organisations["A1"],
                procedure=Procedure.INTEGRITY,
                language="nl",
            )


async def test_text_for_foreign_organisation_not_found(world, rollback):
    await _save_override(world, "A1", OVERRIDE_TEXT)
    for user, organisation in (("admin_B", "A1"), ("counsellor_A1", "A2"), ("contact_A2", "A1")):
        with pytest.raises(NotFound):
            await _text_for(world, user, organisation, Procedure.INTEGRITY, "nl")


# --- limits and field errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "fields"),
    [
        ({"body": "x" * (MAX_BODY + 1)}, {"body": "too_long"}),
        ({"procedure": "whistleblowing"}, {"procedure": "unknown"}),
        ({"procedure": ""}, {"procedure": "required"}),
        ({"language": "de"}, {"language": "unknown"}),
        ({"language": "de", "procedure": "x"}, {"language": "unknown", "procedure": "unknown"}),
    ],
)
async def test_save_template_invalid_field_error_nothing_stored(world, rollback, arguments, fields):
    with pytest.raises(Invalid) as refused:
        await _save_template(world, "admin_A", **{"body": BUREAU_TEXT, **arguments})
    assert refused.value.fields == fields
    assert await _stored() == ([], [])
    assert await _events("procedure_") == []


async def test_save_template_at_limit_stored_twice_one_row(world, rollback):
    first = await _save_template(world, "admin_A", "a" * MAX_BODY)
    second = await _save_template(world, "admin_A", "  second version \r\n")
    templates, _ = await _stored()
    assert first == second
    assert [(row["procedure"], row["language"], row["body"]) for row in templates] == [
        ("integrity", "nl", "second version")
    ]


async def test_remove_template_without_text_changes_nothing(world, rollback):
    assert not await procedure_texts.remove_template(
        world.ctx("admin_A"), procedure="integrity", language="fr"
    )
    assert await _events("procedure_") == []


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1"])
async def test_save_template_not_bureau_admin_permission_denied(world, rollback, user):
    with pytest.raises(PermissionDenied):
        await _save_template(world, user, BUREAU_TEXT)
    with pytest.raises(PermissionDenied):
        await procedure_texts.remove_template(world.ctx(user), procedure="integrity", language="nl")
    assert await _stored() == ([], [])


async def test_save_override_procedure_not_enabled_or_language_not_used_field_error(
    world, rollback
):
    ctx = system_context("test-setup")
    narrow = await services.create_organisation(
        ctx,
        bureau_id=world.bureaus["A"],
        name="Organisation Narrow",
        languages=("fr",),
        procedures=(Procedure.REHABILITATION,),
    )
    admin = world.ctx("admin_A")
    with pytest.raises(Invalid) as refused:
        await procedure_texts.save_override(
            admin, organisation_id=narrow, procedure="integrity", language="nl", body="x"
        )
    assert refused.value.fields == {"procedure": "not_enabled", "language": "not_used"}
    with pytest.raises(Invalid) as refused:
        await procedure_texts.remove_override(
            admin, organisation_id=narrow, procedure="rehabilitation", language="en"
        )
    assert refused.value.fields == {"language": "not_used"}
    await procedure_texts.save_override(
        admin, organisation_id=narrow, procedure="rehabilitation", language="fr", body="Texte"
    )
    async with tenant_transaction(admin):
        entries = await procedure_texts.list_texts(admin, narrow)
    assert [(e.procedure, e.language, e.source, e.body) for e in entries] == [
        (Procedure.REHABILITATION, "fr", "organisation", "Texte")
    ]


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1"])
async def test_save_override_counsellor_or_contact_permission_denied(world, rollback, user):
    ctx = world.ctx(user)
    with pytest.raises(PermissionDenied):
        await procedure_texts.save_override(
            ctx,
            organisation_id=world.organisations["A1"],
            procedure="integrity",
            language="nl",
            body=OVERRIDE_TEXT,
        )
    assert await _stored() == ([], [])


# --- audit ---------------------------------------------------------------------------------


async def test_procedure_texts_audit_events_codes_never_text(world, rollback):
    template_id = await _save_template(world, "admin_A", BUREAU_TEXT, language="fr")
    await _save_template(world, "admin_A", BUREAU_TEXT + " v2", language="fr")
    await procedure_texts.remove_template(
        world.ctx("admin_A"), procedure="integrity", language="fr"
    )
    text_id = await _save_override(world, "A1", OVERRIDE_TEXT, procedure="rehabilitation")
    await procedure_texts.remove_override(
        world.ctx("admin_A"),
        organisation_id=world.organisations["A1"],
        procedure="rehabilitation",
        language="nl",
    )

    events = await _events("procedure_")
    assert [event["action"] for event in events] == [
        "procedure_template.saved",
        "procedure_template.saved",
        "procedure_template.removed",
        "procedure_text.saved",
        "procedure_text.removed",
    ]
    assert {event["subject_id"] for event in events[:3]} == {str(template_id)}
    assert {event["subject_id"] for event in events[3:]} == {str(text_id)}
    assert all(event["bureau"] == world.bureaus["A"] for event in events)
    assert [event["organisation"] for event in events[3:]] == [world.organisations["A1"]] * 2
    for event in events:
        detail = str(event["detail"])
        assert "procedure" in detail and "language" in detail
        assert "Bureau A says" not in detail and "own text" not in detail


# --- the bureau's template library over HTTP -----------------------------------------------


async def test_bureau_library_lists_every_procedure_and_language_with_source(
    english, world, sign_in
):
    await _save_template(world, "admin_A", BUREAU_TEXT, procedure="rehabilitation", language="fr")
    client = await sign_in("admin_A")
    response = await client.get(LIBRARY)
    assert response.status_code == 200
    assert "Bureau A" in response.text
    for procedure in Procedure:
        for language in LANGUAGES:
            link = f"{EDIT}?procedure={procedure.value}&amp;language={language}"
            assert link in response.text
    assert response.text.count("Built-in text") == len(Procedure) * len(LANGUAGES) - 1
    assert response.text.count("Bureau text") == 1
    assert BUREAU_TEXT not in response.text  # the table shows sources, not texts


async def test_bureau_template_saved_via_form_and_previewed(english, world, sign_in):
    client = await sign_in("admin_A")
    page = f"{EDIT}?procedure=unwanted_behaviour&language=en"
    before = await client.get(page)
    assert before.status_code == 200
    assert "Unwanted behaviour" in before.text and "Built-in text" in before.text
    assert "Are you dealing with bullying" in before.text  # the default, to start from

    body = "# Talk to us\n\nCall [our desk](tel:+3220000000) or [x](javascript:alert(1))."
    response = await submit(
        client,
        page,
        LIBRARY,
        {"procedure": "unwanted_behaviour", "language": "en", "body": body},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{LIBRARY}?saved=1"
    assert "The bureau text has been saved." in (await client.get(f"{LIBRARY}?saved=1")).text

    after = await client.get(page)
    assert "<h1>Talk to us</h1>" in after.text
    assert 'href="tel:+3220000000" rel="nofollow noopener noreferrer"' in after.text
    assert 'href="javascript' not in after.text
    templates, _ = await _stored()
    assert [(row["bureau"], row["body"]) for row in templates] == [(world.bureaus["A"], body)]


async def test_bureau_template_empty_body_removes_back_to_default(english, world, sign_in):
    await _save_template(world, "admin_A", BUREAU_TEXT)
    client = await sign_in("admin_A")
    page = f"{EDIT}?procedure=integrity&language=nl"
    assert BUREAU_TEXT in (await client.get(page)).text
    response = await submit(
        client, page, LIBRARY, {"procedure": "integrity", "language": "nl", "body": "  \r\n "}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{LIBRARY}?removed=1"
    assert await _stored() == ([], [])
    assert "Built-in text" in (await client.get(page)).text


async def test_bureau_template_too_long_text_comes_back_intact_nothing_stored(
    english, world, sign_in
):
    client = await sign_in("admin_A")
    page = f"{EDIT}?procedure=integrity&language=fr"
    body = "Texte <b>trop</b> long & " + "x" * MAX_BODY
    response = await submit(
        client, page, LIBRARY, {"procedure": "integrity", "language": "fr", "body": body}
    )
    assert response.status_code == 400
    assert "<title>Error: Edit procedure text" in response.text
    assert "Enter a text of at most 20,000 characters." in response.text
    assert 'aria-invalid="true"' in response.text
    escaped = body.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f">\n{escaped}</textarea>" in response.text
    assert await _stored() == ([], [])


@pytest.mark.parametrize(
    ("procedure", "language", "message"),
    [
        ("whistleblowing", "nl", "Choose a procedure from the list."),
        ("integrity", "de", "Choose Dutch, English or French."),
    ],
)
async def test_bureau_template_unknown_procedure_or_language_field_error(
    english, world, sign_in, procedure, language, message
):
    client = await sign_in("admin_A")
    response = await submit(
        client, EDIT, LIBRARY, {"procedure": procedure, "language": language, "body": "Mijn tekst"}
    )
    assert response.status_code == 400
    assert message in response.text and ">\nMijn tekst</textarea>" in response.text
    assert await _stored() == ([], [])


async def test_bureau_template_edit_page_unknown_procedure_not_found(english, sign_in):
    client = await sign_in("admin_A")
    assert (await client.get(f"{EDIT}?procedure=nope&language=nl")).status_code == 404
    assert (await client.get(f"{EDIT}?procedure=integrity&language=de")).status_code == 404
    assert (await client.get(EDIT)).status_code == 200  # the first procedure, in Dutch


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1", "operator"])
async def test_bureau_library_other_roles_refused(english, sign_in, user):
    client = await sign_in(user)
    for path in (LIBRARY, EDIT):
        assert (await client.get(path)).status_code == 403
    response = await submit(
        client, "/sign-out", LIBRARY, {"procedure": "integrity", "language": "nl", "body": "x"}
    )
    assert response.status_code == 403
    assert await _stored() == ([], [])


async def test_procedure_template_admin_of_other_bureau_cannot_see_or_change(
    english, world, sign_in
):
    """The isolation test for POST /bureau/procedure-texts: the form carries no bureau id (it
    is the admin's own), so bureau B's admin can only ever write bureau B's library."""
    await _save_template(world, "admin_A", BUREAU_TEXT)
    client = await sign_in("admin_B")
    listing = await client.get(LIBRARY)
    assert "Bureau B" in listing.text and "Bureau A" not in listing.text
    assert "Bureau text" not in listing.text
    edit = await client.get(f"{EDIT}?procedure=integrity&language=nl")
    assert BUREAU_TEXT not in edit.text and "Bureau A" not in edit.text

    saved = await submit(
        client,
        f"{EDIT}?procedure=integrity&language=nl",
        LIBRARY,
        {"procedure": "integrity", "language": "nl", "body": "Bureau B text"},
    )
    assert saved.status_code == 303
    removed = await submit(
        client, EDIT, LIBRARY, {"procedure": "integrity", "language": "nl", "body": ""}
    )
    assert removed.status_code == 303

    templates, _ = await _stored()  # bureau A's text, unchanged; bureau B's removed again
    assert [(row["bureau"], row["body"]) for row in templates] == [
        (world.bureaus["A"], BUREAU_TEXT)
    ]
    assert (await _text_for(world, "admin_A", "A1", Procedure.INTEGRITY, "nl")).body == (
        BUREAU_TEXT
    )

    client = await sign_in("admin_A")
    await _save_template(world, "admin_B", "Only bureau B sees this", language="en")
    listing = await client.get(LIBRARY)
    assert "Bureau B" not in listing.text and listing.text.count("Bureau text") == 1
    edit = await client.get(f"{EDIT}?procedure=integrity&language=en")
    assert "Only bureau B sees this" not in edit.text
    with pytest.raises(NotFound):  # B's admin never reaches A's organisations either
        await _text_for(world, "admin_B", "A1", Procedure.INTEGRITY, "nl")


# --- an organisation's texts over HTTP -----------------------------------------------------


async def test_organisation_texts_each_enabled_procedure_and_language_with_source(
    english, world, sign_in
):
    await _save_template(world, "admin_A", "Bureau *wide* text", language="en")
    await _save_override(world, "A1", "Own **A1** text", procedure="rehabilitation")
    client = await sign_in("admin_A")
    response = await client.get(_texts_page(world, "A1"))
    assert response.status_code == 200
    assert "Organisation A1" in response.text
    assert "Bureau <em>wide</em> text" in response.text
    assert "Own <strong>A1</strong> text" in response.text
    assert "Are you dealing with bullying" in response.text  # unwanted behaviour, English
    assert "Comportement" not in response.text  # A1 does not use French
    assert response.text.count("<textarea") == len(Procedure) * 2  # nl and en, editable
    assert response.text.count("Text of this organisation</span>") == 1
    assert response.text.count("Bureau text</span>") == 1
    assert response.text.count("Built-in text</span>") == len(Procedure) * 2 - 2


async def test_organisation_override_saved_and_removed_via_form(english, world, sign_in):
    client = await sign_in("admin_A")
    page = _texts_page(world, "A1")
    form = {"procedure": "integrity", "language": "en", "body": "## Our way\n\nWrite to us."}
    saved = await submit(client, page, page, form)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{page}?saved=1"
    shown = await client.get(f"{page}?saved=1")
    assert "The text of this organisation has been saved." in shown.text
    assert "<h2>Our way</h2>" in shown.text
    _, overrides = await _stored()
    assert [(row["organisation"], row["bureau"], row["body"]) for row in overrides] == [
        (world.organisations["A1"], world.bureaus["A"], "## Our way\n\nWrite to us.")
    ]

    removed = await submit(client, page, page, {**form, "body": ""})
    assert removed.headers["location"] == f"{page}?removed=1"
    assert await _stored() == ([], [])


async def test_organisation_override_language_not_used_field_error_text_intact(
    english, world, sign_in
):
    client = await sign_in("admin_A")
    page = _texts_page(world, "A1")
    typed = "Mon texte <i>à moi</i>"
    response = await submit(
        client, page, page, {"procedure": "integrity", "language": "fr", "body": typed}
    )
    assert response.status_code == 400
    assert "<title>Error: Procedure texts" in response.text
    assert "This organisation does not use this language." in response.text
    assert ">\nMon texte &lt;i&gt;à moi&lt;/i&gt;</textarea>" in response.text
    assert await _stored() == ([], [])


async def test_organisation_override_too_long_field_error_in_its_form(english, world, sign_in):
    client = await sign_in("admin_A")
    page = _texts_page(world, "A1")
    typed = "y" * (MAX_BODY + 5)
    response = await submit(
        client, page, page, {"procedure": "rehabilitation", "language": "nl", "body": typed}
    )
    assert response.status_code == 400
    assert 'href="#body-rehabilitation-nl"' in response.text
    assert f'aria-invalid="true">\n{typed}</textarea>' in response.text
    assert await _stored() == ([], [])


async def test_organisation_text_hostile_markdown_rendered_harmless(english, world, sign_in):
    hostile = (
        "<script>alert(1)</script> [x](javascript:alert(1)) ![p](https://tracker.example/p.png)"
        ' <img src=x onerror="alert(1)">'
    )
    await _save_override(world, "A1", hostile, language="en")
    client = await sign_in("contact_A1")
    response = await client.get(_texts_page(world, "A1"))
    assert response.status_code == 200
    assert "<script>alert" not in response.text and 'href="javascript' not in response.text
    assert "<img" not in response.text and 'src="https://tracker' not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_organisation_texts_contact_of_organisation_reads_without_form(
    english, world, sign_in
):
    await _save_override(world, "A1", OVERRIDE_TEXT)
    for user in ("contact_A1", "counsellor_A1"):
        client = await sign_in(user)
        response = await client.get(_texts_page(world, "A1"))
        assert response.status_code == 200
        assert OVERRIDE_TEXT in response.text and "Organisation A1" in response.text
        assert "<textarea" not in response.text and '<form method="post" action="/org' not in (
            response.text
        )


@pytest.mark.parametrize("user", ["contact_A1", "counsellor_A1"])
async def test_organisation_texts_contact_or_counsellor_post_forbidden(
    english, world, sign_in, user
):
    await _save_override(world, "A1", OVERRIDE_TEXT)
    client = await sign_in(user)
    page = _texts_page(world, "A1")
    response = await submit(
        client, "/sign-out", page, {"procedure": "integrity", "language": "nl", "body": "Changed"}
    )
    assert response.status_code == 403
    emptied = await submit(
        client, "/sign-out", page, {"procedure": "integrity", "language": "nl", "body": ""}
    )
    assert emptied.status_code == 403
    _, overrides = await _stored()
    assert [row["body"] for row in overrides] == [OVERRIDE_TEXT]


@pytest.mark.parametrize(
    ("user", "organisation"),
    [("admin_B", "A1"), ("counsellor_A1", "A2"), ("contact_A1", "A2"), ("counsellor_A1", "B1")],
)
async def test_organisation_texts_foreign_organisation_not_found_nothing_changed(
    english, world, sign_in, user, organisation
):
    await _save_override(world, "A1", OVERRIDE_TEXT)
    await _save_override(world, "A2", "A2 text")
    before = await _stored()
    client = await sign_in(user)
    page = _texts_page(world, organisation)
    random_id = str(uuid4())
    missing = f"/organisations/{random_id}/procedure-texts"
    foreign_id = str(world.organisations[organisation])

    response = await client.get(page)
    assert response.status_code == 404
    assert (await client.get(missing)).status_code == 404
    assert "A2 text" not in response.text and OVERRIDE_TEXT not in response.text
    for body in ({"procedure": "integrity", "language": "nl", "body": "Hijacked"}, {}):
        changed = await submit(client, "/sign-out", page, body)
        assert changed.status_code == 404
        random = await submit(client, "/sign-out", missing, body)
        assert random.status_code == 404
        assert changed.text.replace(foreign_id, "{id}") == random.text.replace(random_id, "{id}")
    assert await _stored() == before

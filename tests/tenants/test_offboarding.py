"""Offboarding: the page, the export (a zip of every row of the organisation, no secrets), the
deletion (refused without export, name or confirmation; then no row left in any table with an
organisation column, the data key destroyed), and refusals across bureaus and roles."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from piccolo.columns import ForeignKey
from piccolo.table import Table

from klankbord import audit, database, keys, storage
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.settings import Settings
from klankbord.tables import AuditEvent
from klankbord.tenancy import system_context, table_scope, tenant_transaction
from tenants import offboarding
from tenants.tables import Organisation, OrganisationKey, StaffUser
from tests.support.forms import csrf_token, submit


def _page(world, key: str = "A1") -> str:
    return f"/organisations/{world.organisations[key]}/offboarding"


@pytest.fixture
async def admin(sign_in) -> httpx.AsyncClient:
    client = await sign_in("admin_A")
    client.cookies.set("klankbord_lang", "en")
    return client


async def _export(client: httpx.AsyncClient, world, key: str = "A1") -> httpx.Response:
    return await submit(client, _page(world, key), f"{_page(world, key)}/export")


async def _delete(client: httpx.AsyncClient, world, key: str = "A1", **data: str) -> httpx.Response:
    return await submit(client, _page(world, key), f"{_page(world, key)}/delete", data)


def _organisation_columns(table: type[Table]) -> list[str]:
    """Columns of `table` that hold an organisation id, whatever the table declares."""
    names = []
    for column in table._meta.columns:
        name = column._meta.name
        references_organisation = (
            isinstance(column, ForeignKey)
            and column._foreign_key_meta.resolved_references is Organisation
        )
        if name == "organisation" or references_organisation:
            names.append(name)
    if table is Organisation:
        names.append("id")
    return names


async def _rows_per_table(organisation_id: UUID) -> dict[str, int]:
    """Rows that carry `organisation_id`, in EVERY registered table (system scope)."""
    counts: dict[str, int] = {}
    async with tenant_transaction(system_context("test")):
        for table in database.all_tables():
            for name in _organisation_columns(table):
                column = table._meta.get_column_by_name(name)
                count = await table.count().where(column == organisation_id)
                counts[f"{table._meta.tablename}.{name}"] = count
    return counts


async def _exists(organisation_id: UUID) -> bool:
    async with tenant_transaction(system_context("test")):
        return bool(await Organisation.exists().where(Organisation.id == organisation_id))


async def _export_made_at(organisation_id: UUID) -> Any:
    async with tenant_transaction(system_context("test")):
        row = (
            await Organisation.select(Organisation.export_made_at)
            .where(Organisation.id == organisation_id)
            .first()
        )
    assert row is not None
    return row["export_made_at"]


async def _events(action: str, organisation_id: UUID) -> list[dict[str, Any]]:
    async with tenant_transaction(system_context("test")):
        return await AuditEvent.select().where(
            (AuditEvent.action == action) & (AuditEvent.organisation == organisation_id)
        )


# --- the page -----------------------------------------------------------------------------


async def test_offboarding_page_admin_sees_what_happens_and_export_warning(admin, world):
    response = await admin.get(_page(world))

    assert response.status_code == 200
    text = response.text
    assert "Offboard Organisation A1" in text
    assert "deleted for good" in text
    assert "backups can no longer be read" in text
    assert "The export holds everything of this organisation" in text
    assert "delete it as soon as you no longer need it" in text
    assert "audit log" in text
    assert f'action="{_page(world)}/export"' in text
    assert f'action="{_page(world)}/delete"' in text
    assert "Its intake links (1): they stop working at once." in text
    assert "The assignments of counsellors and organisation contacts (2)." in text


@pytest.mark.parametrize("role", ["counsellor_A1", "contact_A1"])
async def test_offboarding_counsellor_or_contact_forbidden_nothing_changed(role, world, sign_in):
    client = await sign_in(role)
    organisation_id = world.organisations["A1"]
    token = await csrf_token(client, "/account")

    assert (await client.get(_page(world))).status_code == 403
    export = await client.post(f"{_page(world)}/export", data={"_csrf_token": token})
    delete = await client.post(
        f"{_page(world)}/delete",
        data={"_csrf_token": token, "name": "Organisation A1", "confirm": "1"},
    )

    assert export.status_code == 403 and delete.status_code == 403
    assert "PK" not in export.text[:2]
    assert await _exists(organisation_id)
    assert await _export_made_at(organisation_id) is None


# --- the export ---------------------------------------------------------------------------


async def test_offboarding_export_zip_holds_organisation_rows_without_secrets(admin, world):
    organisation_id = world.organisations["A1"]
    async with tenant_transaction(system_context("test")):
        wrapped = await OrganisationKey.select(OrganisationKey.wrapped_key).where(
            OrganisationKey.organisation == organisation_id
        )

    response = await _export(admin, world)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and str(organisation_id) in disposition
    assert "Organisation A1" not in disposition
    assert response.headers["cache-control"] == "no-store"

    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert "manifest.json" in names and "attachments/" in names
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "klankbord-organisation-export"
    assert manifest["format_version"] == 1
    assert manifest["organisation_id"] == str(organisation_id)
    assert manifest["bureau_id"] == str(world.bureaus["A"])
    assert manifest["exported_at"]
    assert manifest["attachments"] == 0

    expected_tables = {table._meta.tablename for table, _ in offboarding.organisation_tables()}
    assert expected_tables >= {"organisation", "membership", "intake_link", "organisation_key"}
    assert {f"tables/{name}.json" for name in expected_tables} <= names
    assert set(manifest["tables"]) == expected_tables
    tables = {name: json.loads(archive.read(f"tables/{name}.json")) for name in expected_tables}
    for name, rows in tables.items():
        assert manifest["tables"][name] == len(rows)
    assert [row["name"] for row in tables["organisation"]] == ["Organisation A1"]
    assert len(tables["membership"]) == 2
    assert [row["token"] for row in tables["intake_link"]] == [world.intake_links["A1"]]
    assert len(tables["organisation_key"]) == 1
    assert "wrapped_key" not in tables["organisation_key"][0]

    everything = b"".join(archive.read(name) for name in names)
    assert wrapped and wrapped[0]["wrapped_key"].encode() not in everything
    for other in ("A2", "B1", "B2"):  # nothing of any other organisation
        assert str(world.organisations[other]).encode() not in everything
        assert world.intake_links[other].encode() not in everything

    assert await _export_made_at(organisation_id) is not None
    [event] = await _events("organisation.exported", organisation_id)
    assert event["actor"] == f"staff:{world.users['admin_A']}"
    detail = json.loads(event["detail"]) if isinstance(event["detail"], str) else event["detail"]
    assert detail["tables"] == manifest["tables"]
    assert "Organisation A1" not in json.dumps(detail)


async def test_offboarding_export_extension_points_open_rows_and_add_files(
    world, rollback, monkeypatch
):
    """What the reporter-intake issue plugs in: sealed columns opened with the data key, and
    the organisation's files under attachments/."""
    organisation_id = world.organisations["A1"]
    ctx = world.ctx("admin_A")
    async with tenant_transaction(ctx):
        key = await keys.data_key(ctx, organisation_id=organisation_id)
    sealed = keys.seal(key, b"opened text", context=str(organisation_id))

    def opened(row: dict[str, Any], data_key: bytes) -> dict[str, Any]:
        text = keys.open_sealed(data_key, sealed, context=str(organisation_id))
        return {**row, "opened": text.decode()}

    async def files(ctx_: Any, organisation: UUID) -> Any:
        yield offboarding.ExportFile(name=f"{organisation}/report.txt", content=b"file bytes")

    monkeypatch.setitem(offboarding.ROW_TRANSFORMS, "intake_link", opened)
    monkeypatch.setattr(offboarding, "ATTACHMENT_SOURCES", [files])

    made = await offboarding.export_organisation(ctx, organisation_id=organisation_id)

    archive = zipfile.ZipFile(io.BytesIO(made.content))
    [link] = json.loads(archive.read("tables/intake_link.json"))
    assert link["opened"] == "opened text"
    assert archive.read(f"attachments/{organisation_id}/report.txt") == b"file bytes"
    assert json.loads(archive.read("manifest.json"))["attachments"] == 1


async def test_offboarding_page_after_export_says_when(admin, world):
    await _export(admin, world)

    response = await admin.get(_page(world))

    assert "An export was downloaded on" in response.text
    assert "once you have downloaded the export" not in response.text


# --- the deletion: refusals ---------------------------------------------------------------


async def test_offboarding_delete_without_export_refused_nothing_deleted(admin, world):
    organisation_id = world.organisations["A1"]
    before = await _rows_per_table(organisation_id)

    response = await _delete(admin, world, name="Organisation A1", confirm="1")

    assert response.status_code == 400
    assert "<title>Error: Offboard Organisation A1" in response.text
    assert "Download the export first" in response.text
    assert 'href="#export"' in response.text
    assert await _rows_per_table(organisation_id) == before
    assert not await _events("organisation.deleted", organisation_id)


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"name": "organisation a1", "confirm": "1"}, ["not the name of this organisation"]),
        ({"name": "Organisation A2", "confirm": "1"}, ["not the name of this organisation"]),
        ({"name": "", "confirm": "1"}, ["Type the name of the organisation."]),
        ({"name": "Organisation A1"}, ["Tick the box to confirm"]),
        ({"name": "Organisation A1", "confirm": "0"}, ["Tick the box to confirm"]),
        ({}, ["Type the name of the organisation.", "Tick the box to confirm"]),
    ],
)
async def test_offboarding_delete_wrong_name_or_unconfirmed_refused_nothing_deleted(
    admin, world, data, errors
):
    organisation_id = world.organisations["A1"]
    await _export(admin, world)
    before = await _rows_per_table(organisation_id)

    response = await _delete(admin, world, **data)

    assert response.status_code == 400
    assert "There is a problem" in response.text
    for error in errors:
        assert error in response.text
    assert 'aria-invalid="true"' in response.text
    assert await _rows_per_table(organisation_id) == before
    async with tenant_transaction(world.ctx("admin_A")):
        assert await keys.data_key(world.ctx("admin_A"), organisation_id=organisation_id)


async def test_offboarding_delete_name_with_surrounding_spaces_accepted(admin, world):
    await _export(admin, world)

    response = await _delete(admin, world, name="  Organisation A1 ", confirm="1")

    assert response.status_code == 303
    assert not await _exists(world.organisations["A1"])


# --- the deletion -------------------------------------------------------------------------


async def test_offboarding_delete_leaves_no_row_in_any_table_only_audit_ids(admin, world):
    organisation_id = world.organisations["A1"]
    admin_ctx = world.ctx("admin_A")
    async with tenant_transaction(admin_ctx):
        key = await keys.data_key(admin_ctx, organisation_id=organisation_id)
    sealed = keys.seal(key, b"what the reporter wrote", context=str(organisation_id))
    siblings = {other: await _rows_per_table(world.organisations[other]) for other in ("A2", "B1")}
    before = await _rows_per_table(organisation_id)
    assert before["membership.organisation"] == 2 and before["organisation_key.organisation"] == 1
    # The world's report through A1's intake link, with its file: casework goes too.
    assert before["case_file.organisation"] == 1 and before["case_attachment.organisation"] == 1
    await _export(admin, world)

    response = await _delete(admin, world, name="Organisation A1", confirm="1")

    assert response.status_code == 303
    assert response.headers["location"] == "/organisations?offboarded=1"
    after = await _rows_per_table(organisation_id)
    left = {column: count for column, count in after.items() if count}
    # Only the bureau's audit log keeps the id (events hold ids and codes, no content).
    assert set(left) == {"audit_event.organisation"}, left
    assert left["audit_event.organisation"] >= before["audit_event.organisation"] + 2
    # Every table that holds an organisation column was looked at.
    assert {
        f"{t._meta.tablename}.{c._meta.name}" for t, c in offboarding.organisation_tables()
    } <= (set(after))

    with pytest.raises(NotFound):
        async with tenant_transaction(admin_ctx):
            await keys.data_key(admin_ctx, organisation_id=organisation_id)
    assert sealed  # its key is gone: nothing can open it any more

    for other, counts in siblings.items():  # the other organisations untouched
        assert await _rows_per_table(world.organisations[other]) == counts, other
    async with tenant_transaction(admin_ctx):
        assert await keys.data_key(admin_ctx, organisation_id=world.organisations["A2"])
    async with tenant_transaction(system_context("test")):  # staff accounts stay
        assert await StaffUser.exists().where(StaffUser.id == world.users["counsellor_A1"])

    [event] = await _events("organisation.deleted", organisation_id)
    detail = json.loads(event["detail"]) if isinstance(event["detail"], str) else event["detail"]
    assert detail["data_key_destroyed"] is True
    assert "Organisation A1" not in json.dumps(detail)
    async with tenant_transaction(system_context("test")):
        checked, problems = await audit.verify(system_context("test"))
    assert checked and not problems

    intake = await admin.get(f"/organisations/{organisation_id}")
    assert intake.status_code == 404


async def _put_blob(store: storage.BlobStore, organisation_id: UUID) -> str:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"sealed"

    key = storage.blob_key(organisation_id, uuid4())
    await store.put(key, chunks(), max_bytes=1024)
    return key


async def _read_blob(store: storage.BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in await store.get(key)])


async def test_offboarding_delete_failure_midway_rolls_everything_back(
    world, rollback, monkeypatch, tmp_path: Path
):
    settings = dataclasses.replace(Settings(environment="test"), data_dir=tmp_path)
    organisation_id = world.organisations["A1"]
    store = storage.blob_store(settings)
    key = await _put_blob(store, organisation_id)
    ctx = world.ctx("admin_A")
    await offboarding.export_organisation(ctx, organisation_id=organisation_id)
    before = await _rows_per_table(organisation_id)

    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        await offboarding.delete_organisation(
            ctx,
            settings,
            organisation_id=organisation_id,
            typed_name="Organisation A1",
            confirmed=True,
        )
    monkeypatch.undo()

    assert await _rows_per_table(organisation_id) == before
    async with tenant_transaction(ctx):
        assert await keys.data_key(ctx, organisation_id=organisation_id)
    assert await _read_blob(store, key) == b"sealed"


async def test_offboarding_delete_removes_files_after_commit(world, rollback, tmp_path: Path):
    settings = dataclasses.replace(Settings(environment="test"), data_dir=tmp_path)
    organisation_id = world.organisations["A1"]
    store = storage.blob_store(settings)
    key = await _put_blob(store, organisation_id)
    sibling = await _put_blob(store, world.organisations["A2"])
    ctx = world.ctx("admin_A")
    await offboarding.export_organisation(ctx, organisation_id=organisation_id)

    with pytest.raises(Invalid):
        await offboarding.delete_organisation(
            ctx, settings, organisation_id=organisation_id, typed_name="nope", confirmed=True
        )
    assert await _read_blob(store, key) == b"sealed"

    await offboarding.delete_organisation(
        ctx, settings, organisation_id=organisation_id, typed_name="Organisation A1", confirmed=True
    )
    with pytest.raises(storage.BlobNotFound):
        await store.get(key)
    assert not (tmp_path / "files" / "organisations" / str(organisation_id)).exists()
    assert await _read_blob(store, sibling) == b"sealed"


# --- across tenants and roles ---------------------------------------------------------------


async def test_offboarding_admin_of_other_bureau_not_found_nothing_changed(world, sign_in):
    client = await sign_in("admin_B")
    organisation_id = world.organisations["A1"]
    token = await csrf_token(client, "/bureau/staff")
    before = await _rows_per_table(organisation_id)

    page = await client.get(_page(world))
    export = await client.post(f"{_page(world)}/export", data={"_csrf_token": token})
    delete = await client.post(
        f"{_page(world)}/delete",
        data={"_csrf_token": token, "name": "Organisation A1", "confirm": "1"},
    )
    random_id = uuid4()
    missing = await client.post(
        f"/organisations/{random_id}/offboarding/delete",
        data={"_csrf_token": token, "name": "Organisation A1", "confirm": "1"},
    )

    assert page.status_code == export.status_code == delete.status_code == 404
    assert missing.status_code == 404
    assert missing.text.replace(str(random_id), "{id}") == delete.text.replace(
        str(organisation_id), "{id}"
    )
    assert "Organisation A1" not in export.text + delete.text
    assert await _rows_per_table(organisation_id) == before
    assert await _export_made_at(organisation_id) is None


@pytest.mark.parametrize("action", ["export", "delete"])
async def test_offboarding_post_empty_body_foreign_id_same_404_as_random(action, world, sign_in):
    """What the isolation matrix sends (an empty body), with a valid CSRF token: the access
    check answers before the form is read."""
    client = await sign_in("admin_A")
    token = await csrf_token(client, "/bureau/staff")
    headers = {"x-csrftoken": token}
    foreign_id, random_id = world.organisations["B1"], uuid4()

    foreign = await client.post(
        f"/organisations/{foreign_id}/offboarding/{action}", content=b"", headers=headers
    )
    missing = await client.post(
        f"/organisations/{random_id}/offboarding/{action}", content=b"", headers=headers
    )

    assert foreign.status_code == missing.status_code == 404
    assert foreign.text.replace(str(foreign_id), "{id}") == missing.text.replace(
        str(random_id), "{id}"
    )
    assert await _exists(foreign_id) and await _export_made_at(foreign_id) is None


async def test_offboarding_post_signed_out_401(client, world):
    token = await csrf_token(client, "/sign-in")
    for action in ("export", "delete"):
        response = await client.post(
            f"{_page(world)}/{action}", content=b"", headers={"x-csrftoken": token}
        )
        assert response.status_code == 401


async def test_offboarding_service_other_bureau_or_sibling_counsellor_not_found(world, rollback):
    organisation_id = world.organisations["A1"]
    for user in ("admin_B", "counsellor_A2", "contact_B1"):
        ctx = world.ctx(user)
        with pytest.raises(NotFound):
            await offboarding.export_organisation(ctx, organisation_id=organisation_id)
        with pytest.raises(NotFound):
            await offboarding.delete_organisation(
                ctx,
                Settings(environment="test"),
                organisation_id=organisation_id,
                typed_name="Organisation A1",
                confirmed=True,
            )
    assert await _exists(organisation_id)


async def test_offboarding_service_counsellor_of_organisation_permission_denied(world, rollback):
    organisation_id = world.organisations["A1"]
    for user in ("counsellor_A1", "contact_A1"):
        with pytest.raises(PermissionDenied):
            await offboarding.export_organisation(world.ctx(user), organisation_id=organisation_id)
    assert await _export_made_at(organisation_id) is None


# --- the table enumeration ----------------------------------------------------------------


def test_deletion_order_children_before_parents_covers_every_table():
    order = [table for table, _ in offboarding.deletion_order()]
    position = {table: index for index, table in enumerate(order)}
    organisation_tables = {table for table, _ in offboarding.organisation_tables()}

    assert set(order) == organisation_tables
    assert order[-1] is Organisation
    for table in database.all_tables():
        declared = getattr(table, "_klankbord_scope", None)
        if declared is not None and table_scope(table).organisation is not None:
            assert table in organisation_tables, table
        for column in table._meta.foreign_key_columns:
            referenced = column._foreign_key_meta.resolved_references
            if referenced in organisation_tables and referenced is not table:
                # A table pointing at organisation data is organisation data itself, and is
                # deleted before what it points at.
                assert table in organisation_tables, (
                    f"{table._meta.tablename} references {referenced._meta.tablename}"
                    " but has no organisation column: offboarding would miss its rows"
                )
                assert position[table] < position[referenced]
    assert any(not _organisation_columns(table) for table in database.all_tables())

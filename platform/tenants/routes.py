"""Organisation pages and API for staff; bureau list for the platform operator.

Thin: parse → one access call inside a tenant transaction → render. Role guards on the
controllers; which rows are visible is decided in access.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from klankbord.auth import STAFF_ROLES, current_context, requires
from klankbord.errors import PermissionDenied
from klankbord.templating import page
from klankbord.tenancy import Role, tenant_transaction
from tenants import access
from tenants.policies import whistleblower_duties


class OrganisationOut(msgspec.Struct):
    id: UUID
    name: str
    country: str
    sector: str
    headcount: int
    active: bool


class IntakeLinkOut(msgspec.Struct):
    id: UUID
    procedure: str
    anonymity: str
    active: bool
    url_path: str


class BureauOut(msgspec.Struct):
    id: UUID
    name: str
    created_at: datetime


def _organisation(row: dict[str, Any]) -> OrganisationOut:
    return OrganisationOut(
        id=row["id"],
        name=row["name"],
        country=row["country"],
        sector=row["sector"],
        headcount=row["headcount"],
        active=row["active"],
    )


def _intake_link(row: dict[str, Any]) -> IntakeLinkOut:
    return IntakeLinkOut(
        id=row["id"],
        procedure=row["procedure"],
        anonymity=row["anonymity"],
        active=row["active"],
        url_path=f"/r/{row['token']}",
    )


class OrganisationPages(Controller):
    path = "/organisations"
    guards = [requires(*STAFF_ROLES)]
    include_in_schema = False

    @get("/", name="organisations")
    async def list_page(
        self,
        request: Request[Any, Any, Any],
        page_number: FromQuery[int] = 1,
        offboarded: FromQuery[int] = 0,
    ) -> Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            organisations = await access.list_organisations(ctx, page=page_number)
        return page(
            request,
            "tenants/organisations.html",
            organisations=organisations,
            page_number=max(page_number, 1),
            has_next=len(organisations) == access.PAGE_SIZE,
            offboarded=offboarded == 1,
        )

    @get("/{organisation_id:uuid}", name="organisation")
    async def detail_page(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            organisation = await access.access_organisation(ctx, organisation_id)
            members = await access.list_memberships(ctx, organisation_id)
            sees_links = ctx.bureau_admin or ctx.role_in(organisation_id) is Role.COUNSELLOR
            links = await access.list_intake_links(ctx, organisation_id) if sees_links else []
        return page(
            request,
            "tenants/organisation.html",
            organisation=organisation,
            members=members,
            links=links,
            is_admin=ctx.bureau_admin,
            whistleblower_duties=whistleblower_duties(
                organisation["headcount"], organisation["sector"]
            ),
        )


class OrganisationApi(Controller):
    path = "/api/v1/organisations"
    guards = [requires(*STAFF_ROLES)]
    tags = ["organisations"]

    @get("/", name="api_organisations")
    async def list_organisations(
        self, request: Request[Any, Any, Any], page_number: FromQuery[int] = 1
    ) -> list[OrganisationOut]:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            rows = await access.list_organisations(ctx, page=page_number)
        return [_organisation(row) for row in rows]

    @get("/{organisation_id:uuid}", name="api_organisation")
    async def get_organisation(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> OrganisationOut:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            return _organisation(await access.access_organisation(ctx, organisation_id))

    @get(
        "/{organisation_id:uuid}/intake-links",
        name="api_intake_links",
        guards=[requires(Role.BUREAU_ADMIN, Role.COUNSELLOR)],
    )
    async def list_intake_links(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> list[IntakeLinkOut]:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            if not ctx.bureau_admin and ctx.role_in(organisation_id) is not Role.COUNSELLOR:
                await access.access_organisation(ctx, organisation_id)  # not-found if foreign
                raise PermissionDenied()
            rows = await access.list_intake_links(ctx, organisation_id)
        # A rotated link's old address is history, never handed out again.
        return [_intake_link(row) for row in rows if row["retired_at"] is None]


class PlatformPages(Controller):
    path = "/platform"
    guards = [requires(Role.PLATFORM_OPERATOR)]
    include_in_schema = False

    @get("/bureaus", name="platform_bureaus")
    async def bureaus(
        self, request: Request[Any, Any, Any], page_number: FromQuery[int] = 1
    ) -> Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            bureaus = await access.list_bureaus(ctx, page=page_number)
        return page(request, "tenants/bureaus.html", bureaus=bureaus)


ROUTES = [OrganisationPages, OrganisationApi, PlatformPages]

"""Tenant isolation over HTTP: a matrix generated from the app's route table.

Every route with path parameters by every role by another organisation's ids must answer
not-found (404) when the route's guards let the role in, and 401/403/404 otherwise: never 200,
never the foreign organisation's data, and exactly what a random, non-existent id gets (so a
response never tells whether something exists). A positive control per route and admitted role
(its own organisation's ids → 200 with its own data) keeps a matrix where everything 404s from
passing. Parameterless routes that list tenant data are checked for foreign names per role.

`test_route_matrix_every_route_covered` fails when a route appears that the matrix does not
know: add its path parameters to PARAMETER_IDS, or the route to LISTINGS or PUBLIC_*.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote
from uuid import UUID, uuid4

import httpx
import pytest
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from klankbord.errors import DomainError
from klankbord.security import CSRF_COOKIE, CSRF_HEADER
from klankbord.settings import Settings
from klankbord.web import create_app
from tests.support.world import QUESTIONS_PROCEDURE, REPORT_YEAR, ROLES, World

# --- what the matrix knows ----------------------------------------------------------------

# Path parameter name → the id of that kind that belongs to one organisation of the world
# (by key: "A1"). A route's parameters are all filled from one organisation, so a nested id
# (a case of B1 under B1's organisation id) stays coherent; routes with several parameters
# also get "mixed" variants (one parameter foreign, the others the role's own).
PARAMETER_IDS: dict[str, Callable[[World, str], UUID | str]] = {
    "organisation_id": lambda world, organisation: world.organisations[organisation],
    "link_id": lambda world, organisation: world.intake_link_ids[organisation],
    # A counsellor of that organisation (staff of its bureau).
    "staff_user_id": lambda world, organisation: world.users[f"counsellor_{organisation}"],
    "case_id": lambda world, organisation: world.case_ids[organisation],
    "attachment_id": lambda world, organisation: world.attachment_ids[organisation],
    "question_id": lambda world, organisation: world.question_ids[organisation],
    "entry_id": lambda world, organisation: world.time_entry_ids[organisation],
    # The world masks nothing: ids that exist nowhere (a POST route has no positive control;
    # tests/casework/test_redaction.py lifts a real mask).
    "redaction_id": lambda world, organisation: UUID(int=0xF0 + ord(organisation[1])),
    # The default plans of the organisation's bureau are made on the admin's first visit;
    # an id that exists nowhere (a POST route; tests/billing covers changing a real plan).
    "plan_id": lambda world, organisation: UUID(int=0xB0 + ord(organisation[0])),
}

# Path parameters that are no tenant's ids but a fixed vocabulary: always this value, never
# varied (the organisation's own questions in the world are for this procedure).
FIXED_PARAMETERS: dict[str, str] = {
    "procedure": QUESTIONS_PROCEDURE.value,
    "year": str(REPORT_YEAR),  # every organisation has a final annual report of that year
}

# Each role's own organisation (the positive control), the organisations that are foreign to
# it (the matrix) and the organisations it may see at all (no other organisation's data may
# appear in any response it gets).
HOME: dict[str, str | None] = {
    "admin_A": "A1",
    "counsellor_A1": "A1",
    "contact_A1": "A1",
    "operator": None,  # platform scope: no organisation data at all
}
FOREIGN: dict[str, tuple[str, ...]] = {
    "admin_A": ("B1",),  # the other bureau
    "counsellor_A1": ("A2", "B1"),  # a sibling organisation in the same bureau, and the other
    "contact_A1": ("A2", "B1"),
    "operator": ("A1", "B1"),
}
VISIBLE: dict[str, tuple[str, ...]] = {
    "admin_A": ("A1", "A2"),
    "counsellor_A1": ("A1",),
    "contact_A1": ("A1",),
    "operator": (),
}

# Routes without tenant data, by exact path or prefix. The sign-in pages work on the session
# being signed in (its stage), never on tenant data: tests/tenants/test_sign_in.py.
PUBLIC_PATHS = frozenset(
    {"/", "/healthz", "/readyz", "/language", "/schema", "/sign-in", "/sign-out"}
)
PUBLIC_PREFIXES = ("/static/", "/schema/", "/sign-in/")
# Mail links (a token, no tenant data): tests/tenants/test_invitations.py.
PUBLIC_PREFIXES += ("/invitation/", "/password-reset")
# A reporter's intake page: no sign-in; the token finds one link through a login context and
# a moved or disabled link names no organisation: tests/tenants/test_intake_links.py.
PUBLIC_PREFIXES += ("/r/",)
# Stripe's webhooks: no session, a signature per bureau; an unknown bureau answers like a
# bureau without Stripe connected (404): tests/billing/test_billing_routes.py.
PUBLIC_PREFIXES += ("/billing/webhooks/",)

# The signed-in principal's own account: no tenant data, no ids in the path; every role gets
# its own page (tests/tenants/test_sign_in.py checks what it shows and changes).
OWN_ACCOUNT_PATHS = frozenset(
    {"/account", "/account/sign-out-everywhere", "/account/recovery-codes"}
)


def _organisation_names(world: World, role: str) -> list[str]:
    return [world.organisation_names[key] for key in VISIBLE[role]]


def _bureau_names(world: World, role: str) -> list[str]:
    home = HOME[role]
    if home is None:  # the platform operator
        return [f"Bureau {key}" for key in world.bureaus]
    return [f"Bureau {home[0]}"]  # "A1" is in bureau "A"


# Parameterless GET routes that list tenant data → what an admitted role must see there.
LISTINGS: dict[str, Callable[[World, str], list[str]]] = {
    "/organisations": _organisation_names,
    "/api/v1/organisations": _organisation_names,
    "/platform/bureaus": _bureau_names,
    "/bureau/staff": lambda world, role: [  # display names of the bureau's own staff
        f"{kind} {key}" for key in VISIBLE[role] for kind in ("Counsellor", "Contact")
    ],
    "/bureau/single-sign-on": _bureau_names,  # the admin's own bureau, by name
    "/organisations/new": _bureau_names,  # the form names the admin's own bureau
    "/platform/bureaus/new": _bureau_names,  # the form lists the bureaus (operator only)
    "/bureau/dashboard": _organisation_names,  # every organisation of the bureau
    "/cases": _organisation_names,  # a counsellor's cases name their organisation
    "/api/v1/cases": _organisation_names,  # the caseload as JSON names the organisation
    "/cases/new": _organisation_names,  # the organisations a counsellor may open a case in
    "/time": _organisation_names,  # a counsellor's own time entries, by organisation
    "/bureau/dashboard.csv": _organisation_names,
    "/bureau/procedure-texts": _bureau_names,  # the admin's own bureau, by name
    "/bureau/procedure-texts/edit": _bureau_names,  # the admin's own bureau, by name
    "/bureau/billing": lambda world, role: [  # the webhook address names the own bureau's id
        str(world.bureaus[HOME[role][0]])  # type: ignore[index]
    ],
    "/bureau/annual-report": _bureau_names,  # figures of the admin's own bureau, by name
    "/bureau/annual-report/report.csv": _bureau_names,
    "/bureau/counsellors": lambda world, role: [  # the bureau's own counsellors, by name
        f"Counsellor {key}" for key in VISIBLE[role]
    ],
}

# Parameterless state-changing handlers ("POST /organisations": the ids travel in the body)
# need their own isolation test; list them here with that test's name.
PARAMETERLESS_WRITES: dict[tuple[str, str], str] = {
    ("POST", "/bureau/staff/invite"): (
        "test_invitation_admin_of_other_bureau_into_foreign_organisation_not_found"
    ),
    ("POST", "/bureau/staff/resend"): "test_invitation_resend_by_other_bureau_not_found",
    ("POST", "/bureau/single-sign-on"): "test_sso_settings_foreign_admin_cannot_read_or_change",
    ("POST", "/organisations/new"): "test_organisation_new_other_roles_refused",
    ("POST", "/platform/bureaus/new"): "test_new_bureau_only_operator_may",
    ("POST", "/cases/new"): "test_open_case_in_foreign_organisation_not_found",
    ("POST", "/bureau/billing/stripe"): "test_connect_other_roles_refused",
    ("POST", "/bureau/procedure-texts"): (
        "test_procedure_template_admin_of_other_bureau_cannot_see_or_change"
    ),
}

# (method, route, role): the guards admit the role but the handler refuses it on its own data
# (403), e.g. a page that needs a particular membership role. The positive control expects 403.
HANDLER_DENIES: frozenset[tuple[str, str, str]] = frozenset()

# (method, route) → the request body. State-changing handlers get an empty body unless listed:
# when body validation would answer before the access check, give a valid body here.
REQUEST_BODIES: dict[tuple[str, str], Callable[[World, str], Any]] = {
    ("POST", "/api/v1/cases/{case_id:uuid}/steps"): lambda world, role: {"step": "assessed"},
    ("POST", "/api/v1/cases/{case_id:uuid}/close"): lambda world, role: {"outcome": "withdrawn"},
}

SKIPPED_METHODS = frozenset({"OPTIONS", "HEAD"})  # Litestar's own answers, no tenant data
SAFE_METHODS = frozenset({"GET"})
REFUSED = (401, 403, 404)

PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")

# The route table is read at collection time from an app that is never started (no engine is
# ever opened); `test_route_matrix_table_matches_app` checks it equals the fixture app's.
_NEVER_STARTED: Any = object()


@cache
def _collection_app() -> Litestar:
    return create_app(Settings(environment="test"), engine=_NEVER_STARTED)


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or path in OWN_ACCOUNT_PATHS


def _parameters(path: str) -> list[str]:
    """The id parameters of a route (fixed ones are filled in by `_url`)."""
    return [name for name in PARAMETER.findall(path) if name not in FIXED_PARAMETERS]


def _handlers(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    """(method, route path) → handler, for every HTTP route of `app`."""
    table: dict[tuple[str, str], HTTPRouteHandler] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods - SKIPPED_METHODS:
                table[(method, route.path)] = handler
    return table


def _checked_routes(app: Litestar | None = None) -> list[tuple[str, str]]:
    """(method, path) of the non-public routes with path parameters that the matrix knows."""
    return sorted(
        (method, path)
        for method, path in _handlers(app or _collection_app())
        if not _is_public(path)
        and _parameters(path)
        and set(_parameters(path)) <= PARAMETER_IDS.keys()
    )


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    role: str
    foreign: str  # the organisation whose ids are used
    own: tuple[str, ...] = ()  # parameters filled with the role's own organisation instead

    @property
    def id(self) -> str:
        mixed = f"+own:{','.join(self.own)}" if self.own else ""
        return f"{self.method} {self.path} {self.role} {self.foreign}{mixed}"


def _foreign_cases(app: Litestar | None = None) -> Iterator[Case]:
    # State-changing handlers (POST/PUT/PATCH/DELETE) are included as soon as they appear, with
    # an empty body (or REQUEST_BODIES), and must answer the same not-found. That nothing
    # changed in the database is not asserted yet: left to the issues that add those handlers.
    for method, path in _checked_routes(app):
        parameters = _parameters(path)
        for role in ROLES:
            for foreign in FOREIGN[role]:
                yield Case(method, path, role, foreign)
                home = HOME[role]
                if home is not None and len(parameters) > 1:
                    for parameter in parameters:
                        own = tuple(p for p in parameters if p != parameter)
                        yield Case(method, path, role, foreign, own)


def _positive_cases() -> Iterator[Any]:
    for method, path in _checked_routes():
        if method not in SAFE_METHODS:
            continue  # a positive control for writes needs a valid body: later issues
        for role in ROLES:
            if HOME[role] is not None:
                yield pytest.param(method, path, role, id=f"{method} {path} {role}")


def _signed_out_cases() -> Iterator[Any]:
    for method, path in _checked_routes():
        yield pytest.param(method, path, id=f"{method} {path}")
    for path in sorted(LISTINGS):
        yield pytest.param("GET", path, id=f"GET {path}")


# --- helpers ------------------------------------------------------------------------------


def _url(path: str, values: dict[str, str]) -> str:
    filled = {**FIXED_PARAMETERS, **values}
    return PARAMETER.sub(lambda match: filled[match.group(1)], path)


def _ids_of(world: World, path: str, organisation: str) -> dict[str, str]:
    return {name: str(PARAMETER_IDS[name](world, organisation)) for name in _parameters(path)}


def _markers(world: World, organisation: str) -> list[str]:
    """Strings that only appear in a response that shows `organisation`'s data."""
    return [
        world.organisation_names[organisation],
        world.intake_links[organisation],
        f"Counsellor {organisation}",  # display names, as tests/support/world.py makes them
        f"Contact {organisation}",
        f"Report of organisation {organisation}",  # the world's case and its file
        f"Notes of organisation {organisation}",
    ]


def _foreign_markers(world: World, role: str) -> list[str]:
    markers = [
        m for key in world.organisations if key not in VISIBLE[role] for m in _markers(world, key)
    ]
    if HOME[role] is not None:  # staff of a bureau: other bureaus' names are foreign too
        own_bureau = HOME[role][0]
        markers += [f"Bureau {key}" for key in world.bureaus if key != own_bureau]
    return markers


def _text(response: httpx.Response) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{headers}\n{response.text}"


def _leaks(response: httpx.Response, markers: list[str]) -> list[str]:
    text = _text(response)
    return [marker for marker in markers if marker in text]


async def _admits(app: Litestar, method: str, path: str, ctx: Any) -> bool:
    """Whether the route's guards (every layer's) let `ctx` in."""
    handler = _handlers(app)[(method, path)]
    scope: Any = {"type": "http", "method": method, "path": path, "headers": [], "user": ctx}
    connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
    for guard in handler.resolve_guards():
        try:
            await guard(connection, handler)
        except (DomainError, NotAuthorizedException, PermissionDeniedException):
            return False
    return True


async def _request(
    client: httpx.AsyncClient, world: World, method: str, path: str, url: str, role: str
) -> httpx.Response:
    if method in SAFE_METHODS:
        return await client.request(method, url)
    # A valid CSRF pair, as a browser that loaded the form has: the refusal must come from
    # the access check, not from the CSRF middleware.
    token = _collection_app().state.csrf.new_token()
    client.cookies.set(CSRF_COOKIE, token)
    headers = {CSRF_HEADER: token}
    body = REQUEST_BODIES.get((method, path))
    if body is None:
        return await client.request(method, url, content=b"", headers=headers)
    return await client.request(method, url, json=body(world, role), headers=headers)


# --- the matrix ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(_foreign_cases()), ids=lambda case: case.id)
async def test_route_matrix_foreign_ids_not_found(case: Case, app, world, sign_in):
    client = await sign_in(case.role)
    values = _ids_of(world, case.path, case.foreign)
    home = HOME[case.role]
    if case.own:
        assert home is not None
        values.update({name: _ids_of(world, case.path, home)[name] for name in case.own})
    url = _url(case.path, values)

    response = await _request(client, world, case.method, case.path, url, case.role)

    admitted = await _admits(app, case.method, case.path, world.ctx(case.role))
    if admitted:
        assert response.status_code == 404, f"{case.id}: {response.status_code} {response.text}"
    else:
        assert response.status_code in REFUSED, f"{case.id}: {response.status_code}"
    assert not _leaks(response, _foreign_markers(world, case.role)), case.id

    # Indistinguishable from an id that does not exist at all.
    foreign_names = [name for name in _parameters(case.path) if name not in case.own]
    random_values = {**values, **{name: str(uuid4()) for name in foreign_names}}
    random_url = _url(case.path, random_values)
    missing = await _request(client, world, case.method, case.path, random_url, case.role)
    assert response.status_code == missing.status_code, case.id
    normalised = response.text
    for name in foreign_names:
        normalised = normalised.replace(values[name], "{id}")
    expected = missing.text
    for name in foreign_names:
        expected = expected.replace(random_values[name], "{id}")
    assert normalised == expected, f"{case.id}: a foreign id answers unlike a missing one"


@pytest.mark.parametrize(("method", "path", "role"), list(_positive_cases()))
async def test_route_matrix_own_ids_ok(method: str, path: str, role: str, app, world, sign_in):
    home = HOME[role]
    assert home is not None
    client = await sign_in(role)
    response = await client.request(method, _url(path, _ids_of(world, path, home)))

    if not await _admits(app, method, path, world.ctx(role)):
        assert response.status_code in (401, 403), f"{role} refused by role: {response.status_code}"
    elif (method, path, role) in HANDLER_DENIES:
        assert response.status_code == 403
    else:
        assert response.status_code == 200, f"{method} {path} as {role}: {response.status_code}"
        # Headers too: a download names its organisation in its file name.
        shown = [marker for marker in _markers(world, home) if marker in _text(response)]
        assert shown, f"{method} {path} as {role}: 200 but none of {home}'s data"
    assert not _leaks(response, _foreign_markers(world, role))


@pytest.mark.parametrize(("path", "role"), [(p, r) for p in LISTINGS for r in ROLES])
async def test_route_matrix_listing_no_foreign_names(path: str, role: str, app, world, sign_in):
    client = await sign_in(role)
    response = await client.get(path)

    if await _admits(app, "GET", path, world.ctx(role)):
        assert response.status_code == 200, f"{path} as {role}: {response.status_code}"
        expected = LISTINGS[path](world, role)
        assert all(name in response.text for name in expected), f"{path} as {role}: {expected}"
    else:
        assert response.status_code in (401, 403), f"{path} as {role}: {response.status_code}"
    leaks = _leaks(response, _foreign_markers(world, role))
    assert not leaks, f"{path} as {role} shows {leaks}"


@pytest.mark.parametrize(("method", "path"), list(_signed_out_cases()))
async def test_route_matrix_signed_out_401(method: str, path: str, client, world):
    """Signed out: the API answers 401; a page sends the browser to the sign-in, which
    brings it back to the same address afterwards."""
    url = _url(path, _ids_of(world, path, "B1"))
    response = await _request(client, world, method, path, url, "")
    if path.startswith("/api/") or method not in SAFE_METHODS:
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
    else:
        assert response.status_code == 303, f"{method} {path}: {response.status_code}"
        assert response.headers["location"] == f"/sign-in?next={quote(url, safe='')}"
    markers = [m for key in world.organisations for m in _markers(world, key)]
    assert not _leaks(response, markers)


@pytest.mark.parametrize("role", ROLES)
async def test_route_matrix_own_account_shows_no_tenant_data(role: str, world, sign_in):
    client = await sign_in(role)
    response = await client.get("/account")
    assert response.status_code == 200
    markers = [m for key in world.organisations for m in _markers(world, key)]
    assert not _leaks(response, markers), role


# --- the matrix itself --------------------------------------------------------------------


def test_route_matrix_every_route_covered(app):
    """A route the matrix does not know fails here: add it to the matrix."""
    uncovered: list[str] = []
    for route in app.routes:
        path = route.path
        if _is_public(path):
            continue
        if not isinstance(route, HTTPRoute):
            uncovered.append(f"{path}: not an HTTP route; add an isolation test for it")
            continue
        parameters = _parameters(path)
        if parameters:
            unknown = sorted(set(parameters) - PARAMETER_IDS.keys())
            if unknown:
                uncovered.append(f"{path}: path parameter(s) {unknown} not in PARAMETER_IDS")
            continue
        methods = {m for h in route.route_handlers for m in h.http_methods} - SKIPPED_METHODS
        if "GET" in methods and path not in LISTINGS:
            uncovered.append(f"GET {path}: not in LISTINGS (or PUBLIC_PATHS if it has no data)")
        for method in sorted(methods - {"GET"}):
            if (method, path) not in PARAMETERLESS_WRITES:
                uncovered.append(f"{method} {path}: not in PARAMETERLESS_WRITES")
    assert not uncovered, (
        "routes the isolation matrix does not cover; add them to tests/isolation/"
        "test_route_matrix.py (PARAMETER_IDS, LISTINGS, PARAMETERLESS_WRITES or PUBLIC_*):\n  "
        + "\n  ".join(uncovered)
    )


def test_route_matrix_known_routes_still_exist(app):
    """Stale entries hide mistakes: every listed path must still be a route."""
    paths = {route.path for route in app.routes}
    stale = [p for p in [*PUBLIC_PATHS, *LISTINGS, *OWN_ACCOUNT_PATHS] if p not in paths]
    stale += [p for p in PUBLIC_PREFIXES if not any(path.startswith(p) for path in paths)]
    stale += [f"{m} {p}" for m, p in PARAMETERLESS_WRITES if p not in paths]
    assert not stale, f"listed in the isolation matrix but no longer routes: {stale}"


def test_route_matrix_table_matches_app(app):
    assert sorted(_handlers(app)) == sorted(_handlers(_collection_app()))
    assert _checked_routes(), "no route with path parameters: the matrix checks nothing"


async def test_route_matrix_every_route_has_positive_control(app, world):
    """Each checked GET route and each listing admits at least one role that gets its data."""
    assert set(ROLES) == set(HOME) == set(FOREIGN) == set(VISIBLE)
    lonely: list[str] = []
    for method, path in _checked_routes():
        if method not in SAFE_METHODS:
            continue
        controls = [
            role
            for role in ROLES
            if HOME[role] is not None
            and (method, path, role) not in HANDLER_DENIES
            and await _admits(app, method, path, world.ctx(role))
        ]
        if not controls:
            lonely.append(f"{method} {path}")
    for path in LISTINGS:
        admitted = [role for role in ROLES if await _admits(app, "GET", path, world.ctx(role))]
        if not admitted or not any(LISTINGS[path](world, role) for role in admitted):
            lonely.append(f"GET {path}")
    assert not lonely, f"no role gets a positive control on: {lonely}"


async def test_route_matrix_markers_shown_on_own_organisation_page(app, world, sign_in):
    """The strings the matrix looks for are real: a bureau admin's page shows them all."""
    client = await sign_in("admin_A")
    response = await client.get(f"/organisations/{world.organisations['A1']}")
    assert response.status_code == 200
    case_markers = [marker for marker in _markers(world, "A1") if "of organisation" in marker]
    missing = [
        marker
        for marker in _markers(world, "A1")
        if marker not in response.text and marker not in case_markers
    ]
    assert not missing, f"markers never rendered (world or template changed?): {missing}"
    counsellor = await sign_in("counsellor_A1")
    case_page = await counsellor.get(f"/cases/{world.case_ids['A1']}")
    file_page = await counsellor.get(
        f"/cases/{world.case_ids['A1']}/files/{world.attachment_ids['A1']}"
    )
    assert case_markers[0] in case_page.text and case_markers[1] in file_page.text
    bureaus = await (await sign_in("operator")).get("/platform/bureaus")
    assert all(f"Bureau {key}" in bureaus.text for key in world.bureaus)


def test_route_matrix_generator_includes_state_changing_handlers(monkeypatch):
    """When POST/PUT/PATCH/DELETE handlers appear, the generator puts them in the matrix."""
    from litestar import delete, get, patch, post, put
    from litestar.params import FromPath

    path = "/organisations/{organisation_id:uuid}/things"
    nested = f"{path}/{{thing_id:uuid}}"

    @get(path)
    async def read(organisation_id: FromPath[UUID]) -> None: ...

    @post(path)
    async def create(organisation_id: FromPath[UUID]) -> None: ...

    @put(nested)
    async def replace(organisation_id: FromPath[UUID], thing_id: FromPath[UUID]) -> None: ...

    @patch(path)
    async def change(organisation_id: FromPath[UUID]) -> None: ...

    @delete(path)
    async def remove(organisation_id: FromPath[UUID]) -> None: ...

    app = Litestar([read, create, replace, change, remove])
    expected = [("DELETE", path), ("GET", path), ("PATCH", path), ("POST", path)]
    assert _checked_routes(app) == expected  # thing_id is unknown: the coverage test flags it

    monkeypatch.setitem(PARAMETER_IDS, "thing_id", lambda world, organisation: uuid4())
    assert ("PUT", nested) in _checked_routes(app)
    cases = [case for case in _foreign_cases(app) if case.path == nested]
    counsellor = {(case.foreign, case.own) for case in cases if case.role == "counsellor_A1"}
    assert counsellor == {
        (foreign, own)
        for foreign in ("A2", "B1")
        for own in ((), ("organisation_id",), ("thing_id",))
    }  # all-foreign, and each parameter foreign on its own (the other the role's own)

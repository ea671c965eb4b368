"""Tenant isolation, in one place.

A `TenantContext` says who is asking and which rows they may touch: one bureau, and within it
either every organisation (bureau admin) or the organisations they hold a membership in.
`scoped()` is the only place the `WHERE organisation = …` filter is written; `access.py`
modules build on it. `tenant_transaction()` opens the transaction and sets the same facts as
transaction-local PostgreSQL settings, which the row-level security policies (migration
`tenants/piccolo_migrations/*_rls.py`) read: a forgotten filter still returns nothing.

The rule, for a table declared with `tenant_owned(organisation=…, bureau=…, owner=…)`:
- system scope (jobs, webhooks, CLI; audited): every row;
- platform scope (the platform operator): bureau-level tables only, never organisation data;
- tenant scope: rows of the context's bureau and, unless bureau admin, of its organisations;
  plus rows the principal owns (its own user row and memberships, so a session can be turned
  into a context);
- reporter scope (a reporter on an intake link, never an account): tables declared with
  `reporter=` only, rows of the link's organisation (and of its bureau for bureau-level
  tables); `reporter="case"` tables are the only ones a reporter writes, and once the reporter
  has opened a mailbox, only the rows of that one case.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from piccolo.columns import Column
from piccolo.columns.combination import And, Or, Where, WhereRaw
from piccolo.table import Table

from klankbord import database
from klankbord.errors import NotFound


class Role(StrEnum):
    PLATFORM_OPERATOR = "platform_operator"
    BUREAU_ADMIN = "bureau_admin"
    COUNSELLOR = "counsellor"
    ORGANISATION_CONTACT = "organisation_contact"


class Scope(StrEnum):
    TENANT = "tenant"
    PLATFORM = "platform"
    SYSTEM = "system"
    LOGIN = "login"  # before anyone is known: one row found by what the person typed
    REPORTER = "reporter"  # someone on an intake link: one organisation, at most one case


class ReporterAccess(StrEnum):
    """How a reporter context sees a table (`tenant_owned(reporter=…)`)."""

    READ = "read"  # rows of the link's organisation (or bureau), read-only
    CASE = "case"  # rows of the organisation, written by intake; one case once bound
    COUNSELLORS = "counsellors"  # staff rows: only counsellors of the organisation


@dataclass(frozen=True)
class TableScope:
    organisation: str | None
    bureau: str | None
    owner: str | None
    login: str | None = None
    reporter: ReporterAccess | None = None
    case: str | None = None

    @property
    def owner_only(self) -> bool:
        return self.organisation is None and self.bureau is None and self.owner is not None


TableT = TypeVar("TableT", bound=type[Table])


def tenant_owned(
    *,
    organisation: str | None = None,
    bureau: str | None = None,
    owner: str | None = None,
    login: str | None = None,
    reporter: ReporterAccess | None = None,
    case: str | None = None,
) -> Callable[[TableT], TableT]:
    """Declare which columns scope a table. A table without this cannot be `scoped()`.

    `owner` alone (no bureau, no organisation): rows private to one staff member, whatever
    their role (their TOTP secret). `login`: the column a login context may look one row up
    by (an e-mail address), read-only. `reporter`: what a reporter context may see (nothing
    without it); `case`: the column naming the case a row belongs to (`id` on the case table),
    which limits a reporter context bound to one case.
    """
    if reporter is ReporterAccess.CASE and case is None:
        raise TypeError("reporter=CASE needs the case column")

    def declare(table: TableT) -> TableT:
        table._klankbord_scope = TableScope(organisation, bureau, owner, login, reporter, case)  # type: ignore[attr-defined]
        return table

    return declare


def table_scope(table: type[Table]) -> TableScope:
    scope = getattr(table, "_klankbord_scope", None)
    if not isinstance(scope, TableScope):
        raise TypeError(f"{table.__name__} is not declared with tenant_owned()")
    return scope


@dataclass(frozen=True)
class TenantContext:
    principal: str
    scope: Scope
    staff_user_id: UUID | None = None
    bureau_id: UUID | None = None
    bureau_admin: bool = False
    organisation_roles: tuple[tuple[UUID, Role], ...] = ()
    reason: str = ""
    login_key: str = field(default="", repr=False)
    reporter_organisation_id: UUID | None = None
    case_id: UUID | None = None
    _roles: dict[UUID, Role] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_roles", dict(self.organisation_roles))

    @property
    def organisation_ids(self) -> frozenset[UUID]:
        return frozenset(self._roles)

    def role_in(self, organisation_id: UUID) -> Role | None:
        """The membership role in an organisation; bureau admins are checked by `scoped()`."""
        return self._roles.get(organisation_id)

    @property
    def roles(self) -> frozenset[Role]:
        roles = set(self._roles.values())
        if self.bureau_admin:
            roles.add(Role.BUREAU_ADMIN)
        if self.scope is Scope.PLATFORM:
            roles.add(Role.PLATFORM_OPERATOR)
        return frozenset(roles)

    def with_organisation(self, organisation_id: UUID, role: Role) -> TenantContext:
        """The same principal after gaining `role` in a (new) organisation."""
        roles = dict(self._roles)
        roles[organisation_id] = role
        return _replace(self, organisation_roles=tuple(sorted(roles.items(), key=_key)))


def _key(item: tuple[UUID, Role]) -> str:
    return str(item[0])


def _replace(ctx: TenantContext, **changes: Any) -> TenantContext:
    values = {
        name: getattr(ctx, name)
        for name in (
            "principal",
            "scope",
            "staff_user_id",
            "bureau_id",
            "bureau_admin",
            "organisation_roles",
            "reason",
            "login_key",
            "reporter_organisation_id",
            "case_id",
        )
    }
    values.update(changes)
    return TenantContext(**values)


def staff_context(
    *,
    staff_user_id: UUID,
    bureau_id: UUID | None,
    bureau_admin: bool = False,
    organisation_roles: Iterable[tuple[UUID, Role]] = (),
) -> TenantContext:
    return TenantContext(
        principal=f"staff:{staff_user_id}",
        scope=Scope.TENANT,
        staff_user_id=staff_user_id,
        bureau_id=bureau_id,
        bureau_admin=bureau_admin,
        organisation_roles=tuple(sorted(organisation_roles, key=_key)),
    )


def bureau_reader_context(bureau_id: UUID, *, purpose: str) -> TenantContext:
    """The rows of one bureau, for a check made before or beside a principal (whether a
    bureau's staff may use their pages): tenant scope, that bureau only, no organisation,
    not an admin, and, unlike a system context, no audit event per transaction (a check on
    every request must not write). Callers only read with it."""
    return TenantContext(
        principal=f"bureau-reader:{purpose}", scope=Scope.TENANT, bureau_id=bureau_id
    )


def principal_context(staff_user_id: UUID) -> TenantContext:
    """Sees only the principal's own user row and memberships: for building its context."""
    return staff_context(staff_user_id=staff_user_id, bureau_id=None)


def platform_context(staff_user_id: UUID) -> TenantContext:
    return TenantContext(
        principal=f"staff:{staff_user_id}", scope=Scope.PLATFORM, staff_user_id=staff_user_id
    )


def system_context(reason: str) -> TenantContext:
    """Every row, for jobs, webhooks and the CLI. Each transaction opened with it writes an
    audit event carrying `reason` (a short code, never data)."""
    if not reason:
        raise ValueError("a system context needs a reason")
    return TenantContext(principal=f"system:{reason}", scope=Scope.SYSTEM, reason=reason)


def login_context(key: str) -> TenantContext:
    """Sees one row of the tables declared with `login=`: the one whose login column equals
    `key` (a normalised e-mail address, a provider id). For sign-in before anyone is known;
    not audited (every anonymous attempt would write to the chain), and read-only."""
    if not key:
        raise ValueError("a login context needs a key")
    return TenantContext(principal="login", scope=Scope.LOGIN, login_key=key)


def reporter_context(
    *, bureau_id: UUID, organisation_id: UUID, case_id: UUID | None = None
) -> TenantContext:
    """A reporter on one of the organisation's intake links: reads what the intake page shows
    and writes a new case; with `case_id` (after a mailbox sign-in) only that case's rows.
    Not audited per request (anonymous traffic would flood the chain); the services record the
    events that matter (a case received)."""
    return TenantContext(
        principal="reporter",
        scope=Scope.REPORTER,
        bureau_id=bureau_id,
        reporter_organisation_id=organisation_id,
        case_id=case_id,
    )


def with_case(ctx: TenantContext, case_id: UUID) -> TenantContext:
    """The same reporter, bound to one case (after intake or a mailbox sign-in)."""
    if ctx.scope is not Scope.REPORTER:
        raise ValueError("only a reporter context is bound to a case")
    return _replace(ctx, case_id=case_id)


# --- the filter ---------------------------------------------------------------------------

QueryT = TypeVar("QueryT")


def _column(table: type[Table], name: str | None) -> Column | None:
    return None if name is None else table._meta.get_column_by_name(name)


def _nothing() -> WhereRaw:
    return WhereRaw("1 = 0")


def tenant_filter(table: type[Table], ctx: TenantContext) -> Where | And | Or | WhereRaw | None:
    """The WHERE clause that limits `table` to what `ctx` may touch (None: no limit)."""
    declared = table_scope(table)
    if ctx.scope is Scope.SYSTEM:
        return None
    if ctx.scope is Scope.LOGIN:
        login_column = _column(table, declared.login)
        return _nothing() if login_column is None else login_column == ctx.login_key
    if ctx.scope is Scope.REPORTER:
        return _reporter_filter(table, declared, ctx)  # type: ignore[no-any-return]
    if declared.owner_only:
        owner = _column(table, declared.owner)
        if owner is None or ctx.staff_user_id is None:
            return _nothing()
        return owner == ctx.staff_user_id
    if ctx.scope is Scope.PLATFORM:
        return None if declared.organisation is None else _nothing()

    clauses: list[Any] = []
    bureau_column = _column(table, declared.bureau)
    organisation_column = _column(table, declared.organisation)
    if ctx.bureau_id is not None and bureau_column is not None:
        tenant: Any = bureau_column == ctx.bureau_id
        if organisation_column is not None and not ctx.bureau_admin:
            ids = sorted(ctx.organisation_ids, key=str)
            tenant = (tenant & organisation_column.is_in(ids)) if ids else _nothing()
        clauses.append(tenant)
    owner_column = _column(table, declared.owner)
    if owner_column is not None and ctx.staff_user_id is not None:
        clauses.append(owner_column == ctx.staff_user_id)

    if not clauses:
        return _nothing()
    combined = clauses[0]
    for clause in clauses[1:]:
        combined = combined | clause
    return combined  # type: ignore[no-any-return]


def _reporter_filter(table: type[Table], declared: TableScope, ctx: TenantContext) -> Any:
    organisation_id = ctx.reporter_organisation_id
    if declared.reporter is None or organisation_id is None or ctx.bureau_id is None:
        return _nothing()
    if declared.reporter is ReporterAccess.COUNSELLORS:
        # Staff rows are bureau-level: a reporter sees the organisation's counsellors only
        # (their names on the intake page, their addresses for the new-report notice).
        return WhereRaw(
            "id IN (SELECT staff_user FROM membership"
            " WHERE organisation = {} AND role = 'counsellor')",
            organisation_id,
        )
    organisation_column = _column(table, declared.organisation)
    if organisation_column is not None:
        clause: Any = organisation_column == organisation_id
    else:
        bureau_column = _column(table, declared.bureau)
        if bureau_column is None:
            return _nothing()
        clause = bureau_column == ctx.bureau_id
    case_column = _column(table, declared.case)
    if case_column is not None and ctx.case_id is not None:
        clause = clause & (case_column == ctx.case_id)
    return clause


def scoped(query: QueryT, table: type[Table], ctx: TenantContext) -> QueryT:
    """`query` (select, objects, count, exists, update, delete) limited to `ctx`'s rows."""
    clause = tenant_filter(table, ctx)
    if clause is None:
        return query
    return query.where(clause)  # type: ignore[attr-defined, no-any-return]


def check_may_write(
    ctx: TenantContext, *, bureau_id: UUID | None, organisation_id: UUID | None = None
) -> None:
    """For inserts, which have no WHERE: refuse a row outside the context, as not-found."""
    if ctx.scope is Scope.SYSTEM:
        return
    if ctx.scope is Scope.LOGIN:
        raise NotFound()
    if ctx.scope is Scope.REPORTER:
        if (
            bureau_id is None
            or bureau_id != ctx.bureau_id
            or organisation_id != ctx.reporter_organisation_id
        ):
            raise NotFound()
        return
    if ctx.scope is Scope.PLATFORM:
        if organisation_id is None:
            return
        raise NotFound()
    if bureau_id is None or bureau_id != ctx.bureau_id:
        raise NotFound()
    if (
        organisation_id is not None
        and not ctx.bureau_admin
        and organisation_id not in ctx.organisation_ids
    ):
        raise NotFound()


# --- the transaction ----------------------------------------------------------------------

_current_context: contextvars.ContextVar[TenantContext | None] = contextvars.ContextVar(
    "klankbord_tenant_context", default=None
)


def current_context() -> TenantContext | None:
    return _current_context.get()


@asynccontextmanager
async def tenant_transaction(ctx: TenantContext) -> AsyncIterator[TenantContext]:
    """A transaction in which the database knows `ctx` (PostgreSQL: for RLS).

    Nested calls with the same context join the outer transaction; a different context
    inside an open transaction is a programming error (it would widen or narrow RLS midway).
    """
    outer = _current_context.get()
    if outer is not None:
        if outer != ctx:
            raise RuntimeError("a tenant transaction is already open with another context")
        yield ctx
        return

    engine = database.current_engine()
    enclosing = engine.current_transaction.get()
    if enclosing is None:
        async with engine.transaction(), _context_set(ctx):
            yield ctx
        return
    # Inside a plain transaction (a test's rollback-per-test, a migration): a savepoint keeps
    # this block all-or-nothing, as it is in production.
    savepoint = await enclosing.savepoint()
    try:
        async with _context_set(ctx):
            yield ctx
    except BaseException:
        await savepoint.rollback_to()
        raise
    await savepoint.release()


@asynccontextmanager
async def _context_set(ctx: TenantContext) -> AsyncIterator[None]:
    token = _current_context.set(ctx)
    try:
        if database.is_postgres():
            await _set_database_context(ctx)
        if ctx.scope is Scope.SYSTEM:
            from klankbord import audit

            await audit.record(ctx, action="system.context", detail={"reason": ctx.reason})
        yield
    finally:
        _current_context.reset(token)


async def _set_database_context(ctx: TenantContext) -> None:
    # set_config(…, true) is transaction-local; SET LOCAL takes no bind parameters.
    await database.fetch(
        "SELECT set_config('app.scope', {}, true), set_config('app.bureau_id', {}, true),"
        " set_config('app.bureau_admin', {}, true), set_config('app.organisation_ids', {}, true),"
        " set_config('app.staff_user_id', {}, true), set_config('app.login_key', {}, true),"
        " set_config('app.case_id', {}, true)",
        ctx.scope.value,
        str(ctx.bureau_id) if ctx.bureau_id else "",
        "on" if ctx.bureau_admin else "off",
        ",".join(sorted(str(i) for i in _database_organisations(ctx))),
        str(ctx.staff_user_id) if ctx.staff_user_id else "",
        ctx.login_key,
        str(ctx.case_id) if ctx.case_id else "",
    )


def _database_organisations(ctx: TenantContext) -> Iterable[UUID]:
    if ctx.reporter_organisation_id is not None:
        return (ctx.reporter_organisation_id,)
    return ctx.organisation_ids


def require_transaction(ctx: TenantContext) -> None:
    """Guard for access functions: they must run inside `tenant_transaction(ctx)`."""
    if _current_context.get() != ctx:
        raise RuntimeError("open tenant_transaction(ctx) before touching tenant data")

"""Test infrastructure: one database per run, a shared world, rollback per test.

The backend comes from KLANKBORD_TEST_BACKEND (`sqlite`, the default, or `postgres`); `make
test` runs the suite once for each. On PostgreSQL the tests connect as the app role (not
owner, not superuser, no BYPASSRLS), so row-level security applies to everything they do.

The world: two bureaus (A, B), two organisations each (A1, A2, B1, B2), a bureau admin per
bureau, a counsellor and an organisation contact per organisation, a platform operator, and
an intake link per organisation. It is committed once; each test runs inside a transaction
that is rolled back (tenant transactions inside it become savepoints).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from klankbord import database, keys
from klankbord.migrations import migrate
from klankbord.provision import Provisioning, provision, url_for
from klankbord.settings import Settings
from klankbord.web import create_app
from tests.support.postgres import find_server
from tests.support.world import World, build_world

REQUIRE_ALL = os.environ.get("KLANKBORD_REQUIRE_ALL") == "1"
BACKEND = os.environ.get("KLANKBORD_TEST_BACKEND", "sqlite")
os.environ.setdefault("PICCOLO_CONF", "klankbord.piccolo_conf")


def missing(reason: str) -> None:
    """Skip loudly, or fail where nothing may be skipped (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"KLANKBORD_REQUIRE_ALL=1 but {reason}", pytrace=False)
    pytest.skip(f"SKIPPED, NOT TESTED: {reason}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """PostgreSQL-only tests belong to the PostgreSQL leg: deselected, not skipped, elsewhere."""
    if BACKEND == "postgres":
        return
    elsewhere = [item for item in items if item.get_closest_marker("postgres")]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker("postgres")]


def pytest_report_header(config: pytest.Config) -> str:
    return f"klankbord backend: {BACKEND}"


class Database:
    """Where the run's database lives, and URLs for each role."""

    def __init__(
        self, settings: Settings, *, admin_url: str | None = None, owner_url: str | None = None
    ):
        self.settings = settings
        self.admin_url = admin_url  # superuser, on the test database (PostgreSQL only)
        self.owner_url = owner_url

    @property
    def is_postgres(self) -> bool:
        return self.settings.database_backend == "postgres"


@pytest.fixture(scope="session")
async def test_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    if BACKEND == "sqlite":
        path = tmp_path_factory.mktemp("db") / "klankbord.sqlite3"
        settings = Settings(
            environment="test",
            database_url=f"sqlite:///{path}",
            data_dir=tmp_path_factory.mktemp("data"),
        )
        await migrate(settings, quiet=True)
        yield Database(settings)
        return
    if BACKEND != "postgres":
        pytest.fail(f"unknown KLANKBORD_TEST_BACKEND {BACKEND!r}")

    server, how = await find_server()
    if server is None:
        missing(how)
    assert server is not None
    name = f"klankbord_test_{os.getpid()}_{secrets.token_hex(3)}"
    owner_pw, app_pw = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    await provision(
        Provisioning(
            admin_url=server.admin_url,
            database=name,
            owner_role="klankbord_test_owner",
            owner_password=owner_pw,
            app_role="klankbord_test_app",
            app_password=app_pw,
        )
    )
    owner_url = url_for(server.admin_url, "klankbord_test_owner", owner_pw, name)
    app_url = url_for(server.admin_url, "klankbord_test_app", app_pw, name)
    settings = Settings(
        environment="test",
        database_url=app_url,
        migration_database_url=owner_url,
        data_dir=tmp_path_factory.mktemp("data"),
    )
    await migrate(settings, quiet=True)
    admin_url = server.admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield Database(settings, admin_url=admin_url, owner_url=owner_url)
    finally:
        await database.close_engine(database.current_engine())
        import asyncpg

        admin = await asyncpg.connect(server.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        server.stop()


@pytest.fixture(scope="session")
async def engine(test_database: Database) -> AsyncIterator[Any]:
    settings = test_database.settings
    # Data keys are wrapped under a key file in the run's own temporary data folder.
    keys.use_key_provider(keys.key_provider(settings))
    app_engine = database.use_engine(database.make_engine(settings.database_url, pool_size=4))
    await database.open_engine(app_engine)
    yield app_engine
    await database.close_engine(app_engine)


@pytest.fixture(scope="session")
async def world(engine: Any, test_database: Database) -> World:
    return await build_world(test_database.settings)


@pytest.fixture
async def rollback(engine: Any) -> AsyncIterator[None]:
    """Everything the test writes disappears afterwards (the world stays)."""
    database.use_engine(engine)
    async with engine.transaction() as transaction:
        yield
        await transaction.rollback()


@pytest.fixture(scope="session")
def app(test_database: Database, engine: Any) -> Any:
    return create_app(test_database.settings, engine=engine)


@pytest.fixture
async def client(app: Any, rollback: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def sign_in(
    client: httpx.AsyncClient, world: World
) -> Callable[[str], Awaitable[httpx.AsyncClient]]:
    """`await sign_in("counsellor_A1")`: the client now carries that person's session."""
    from klankbord.auth import SESSION_COOKIE
    from tenants.accounts import start_session

    async def as_user(key: str) -> httpx.AsyncClient:
        token = await start_session(world.users[key])
        client.cookies.set(SESSION_COOKIE, token)
        return client

    return as_user


@pytest.fixture(scope="session")
def frontend_dir() -> Path:
    return Settings().frontend_dir


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    """moto's S3 and KMS server on 127.0.0.1 (tests/support/moto.py), once per run."""
    from tests.support.moto import MotoServer, moto_available

    reason = moto_available()
    if reason is not None:
        missing(reason)
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto(moto_server: Any) -> Any:
    """The moto server, emptied before the test."""
    moto_server.reset()
    return moto_server

"""Finding a PostgreSQL server for the tests, or starting a throwaway one.

Order: KLANKBORD_TEST_DATABASE_URL (a superuser URL) → the server on 127.0.0.1:5432 (as
`postgres`) → a throwaway cluster from the installed server binaries (initdb/pg_ctl, run as
the `postgres` user when we are root) → None, and the caller skips loudly.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg


@dataclass
class Server:
    admin_url: str
    cluster_dir: Path | None = None
    _stop: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self._stop:
            subprocess.run(self._stop, check=False, capture_output=True)
        if self.cluster_dir is not None:
            shutil.rmtree(self.cluster_dir, ignore_errors=True)


async def _answers(url: str) -> bool:
    try:
        connection = await asyncio.wait_for(asyncpg.connect(url), timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        return bool(
            await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
    finally:
        await connection.close()


def _server_binaries() -> Path | None:
    for candidate in [
        shutil.which("pg_ctl"),
        *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True),
    ]:
        if candidate and Path(candidate).exists():
            return Path(candidate).parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_cluster() -> Server | None:
    bindir = _server_binaries()
    if bindir is None:
        return None
    as_postgres: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="klankbord-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            return None
        os.chown(directory, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = directory / "data", _free_port()
    initdb = [
        *as_postgres,
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
    ]
    if subprocess.run(initdb, capture_output=True, check=False).returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        return None
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port}"
        f" -c unix_socket_directories={directory} -c fsync=off"
    )
    start = [
        *as_postgres,
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(directory / "log"),
        "-w",
        "start",
    ]
    if subprocess.run(start, capture_output=True, check=False).returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        return None
    stop = [*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
    return Server(f"postgresql://postgres@127.0.0.1:{port}/postgres", directory, stop)


async def find_server() -> tuple[Server | None, str]:
    """A server and how it was found, or None and why not."""
    explicit = os.environ.get("KLANKBORD_TEST_DATABASE_URL")
    if explicit:
        if await _answers(explicit):
            return Server(explicit), "KLANKBORD_TEST_DATABASE_URL"
        return None, "KLANKBORD_TEST_DATABASE_URL does not answer as a superuser"
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if await _answers(local):
        return Server(local), "the server on 127.0.0.1:5432"
    server = await asyncio.to_thread(_start_cluster)
    if server is not None and await _answers(server.admin_url):
        return server, f"a throwaway cluster in {server.cluster_dir}"
    if server is not None:
        server.stop()
    return None, "no PostgreSQL: no server on 127.0.0.1:5432 and no initdb/pg_ctl to start one"

"""Browser tests: the real server (`klankbord serve`) in a subprocess, driven by Debian's
`chromium` through Playwright's sync API (this suite runs in its own pytest process).

The server gets a fresh SQLite database in a temporary directory, migrated and seeded with
the demo bureau through the CLI, exactly as `make run` does; it listens on 127.0.0.1 only.
Without `chromium` every test here skips loudly (fails under KLANKBORD_REQUIRE_ALL=1).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import missing
from tests.e2e.support import REPO, UNOFFERED_LOCALE, Server, Tab, parse_seed_output

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
START_TIMEOUT = 30.0  # seconds for `serve` to answer /healthz
COMMAND_TIMEOUT = 120.0  # seconds for `migrate` and `seed-demo`


def _klankbord() -> list[str]:
    script = Path(sys.executable).with_name("klankbord")
    return [str(script)] if script.exists() else [sys.executable, "-m", "klankbord"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(nothing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(nothing)"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        missing("no `chromium` on PATH (apt-get install chromium): the browser tests did not run")
    assert executable is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`klankbord migrate`, `seed-demo` and `serve` on a fresh SQLite database."""
    root = tmp_path_factory.mktemp("e2e-server")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLANKBORD_")}
    env.update(
        KLANKBORD_ENV="test",
        KLANKBORD_DATABASE_URL=f"sqlite:///{root / 'db.sqlite3'}",
        KLANKBORD_SECRET_KEY=secrets.token_urlsafe(48),
        KLANKBORD_DATA_DIR=str(root / "data"),
        KLANKBORD_HOST="127.0.0.1",
        KLANKBORD_PORT=str(port),  # so seed-demo prints links on this server
        KLANKBORD_LOG_LEVEL="WARNING",
    )
    command = _klankbord()

    def run(*args: str) -> str:
        done = subprocess.run(
            [*command, *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"`klankbord {' '.join(args)}` exited {done.returncode}:\n"
                f"{done.stdout}\n{done.stderr}",
                pytrace=False,
            )
        return done.stdout

    run("migrate", "--quiet")
    users, links = parse_seed_output(run("seed-demo"))

    base_url = f"http://127.0.0.1:{port}"
    stdout, stderr = root / "serve.out", root / "serve.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=err,
        )
    try:
        _wait_until_healthy(process, base_url, stderr)
        yield Server(base_url=base_url, users=users, links=links)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_healthy(process: subprocess.Popen[bytes], base_url: str, stderr: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(trust_env=False, timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"`klankbord serve` exited {process.returncode} before answering "
                    f"/healthz; its stderr:\n{_tail(stderr)}",
                    pytrace=False,
                )
            try:
                if http.get(f"{base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(
        f"`klankbord serve` did not answer {base_url}/healthz within {START_TIMEOUT:.0f}s; "
        f"its stderr:\n{_tail(stderr)}",
        pytrace=False,
    )


@pytest.fixture
def open_tab(browser: Browser, server: Server) -> Iterator[Callable[..., Tab]]:
    """`open_tab(locale=..., viewport=..., java_script_enabled=...)`: a fresh context (own
    cookies) with one watched page. The browser asks for a language Klankbord does not offer
    unless `locale` says otherwise, so the app's default applies."""
    contexts: list[Any] = []

    def make(**options: Any) -> Tab:
        options.setdefault("locale", UNOFFERED_LOCALE)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return Tab(context, server.base_url)

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def tab(open_tab: Callable[..., Tab]) -> Tab:
    return open_tab()

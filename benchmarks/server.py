"""The real app under uvicorn, as `klankbord serve` runs it, in a subprocess on 127.0.0.1.

A subprocess rather than an in-process ASGI call so that the HTTP pairs pay for what
production pays for (sockets, HTTP parsing, uvicorn's event loop) and so that the load
generator does not share the server's event loop. Logging is at WARNING: one line per request
is the same cost on both sides and only adds noise to a throughput figure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sys
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.backends import Backend
from klankbord.settings import REPO_ROOT

START_TIMEOUT = 30.0  # seconds for /healthz to answer
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    pid: int
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no output)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(no output)"


@asynccontextmanager
async def serve(backend: Backend, workdir: Path) -> AsyncIterator[RunningServer]:
    """`klankbord serve` on `backend`'s database; stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLANKBORD_")}
    env.update(backend.server_environment())
    env.update(
        KLANKBORD_SECRET_KEY=secrets.token_urlsafe(48),
        KLANKBORD_DATA_DIR=str(workdir / f"data-{backend.name}"),
        KLANKBORD_LOG_LEVEL="WARNING",
        PICCOLO_CONF="klankbord.piccolo_conf",
    )
    log = workdir / f"serve-{backend.name}-{port}.log"
    arguments = ["-m", "klankbord", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *arguments, cwd=REPO_ROOT, env=env, stdout=output, stderr=output
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        await _wait_until_healthy(process, base_url, log)
        yield RunningServer(base_url=base_url, pid=process.pid, log=log)
    finally:
        await _stop(process)


async def _stop(process: Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)


async def _wait_until_healthy(process: Process, base_url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(trust_env=False, timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(
                    f"`klankbord serve` exited {process.returncode}; its output:\n{_tail(log)}"
                )
            try:
                if (await http.get(f"{base_url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"`klankbord serve` did not answer in {START_TIMEOUT:.0f}s:\n{_tail(log)}")

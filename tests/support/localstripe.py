"""localstripe (a stateful fake Stripe API) on 127.0.0.1, started and stopped by the tests.

`with LocalStripe() as server:` — `server.base_url`; `server.register_webhook(...)`. The
stripe library talks HTTP to it exactly as to Stripe; any `sk_test_...` key is accepted.

It is started through a tiny launcher instead of `python -m localstripe`, because that binds
every interface (`::`) and writes its whole store to /tmp/localstripe.pickle after each write
(shared with any other run on the machine); the launcher binds loopback and stays in memory.

localstripe keeps one store for all keys (a key does not isolate data) and ignores
`Idempotency-Key`; tests use fresh customers and Plans, so they never see each other's data.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from typing import Any

import httpx

from tests.support.smtp import free_port

LAUNCHER = """
import sys
from aiohttp import web
from localstripe import resources, server
resources.Store.dump_to_disk = lambda self: None
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def localstripe_available() -> str | None:
    """None when localstripe can run here, else why not."""
    if importlib.util.find_spec("localstripe") is None:
        return "localstripe is not installed (pip install 'localstripe>=1.15')"
    return None


class LocalStripe:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalStripe:
        self._process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                # Any HTTP answer (401 without a key) means it is serving.
                httpx.get(f"{self.base_url}/v1/customers", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("localstripe did not start")

    def __exit__(self, *exc: Any) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def register_webhook(self, webhook_id: str, url: str, secret: str, events: list[str]) -> None:
        """Deliver `events` to `url`, signed with `secret` (localstripe's config API).

        `events=[]` silences a webhook: localstripe has no way to remove one.
        """
        response = httpx.post(
            f"{self.base_url}/_config/webhooks/{webhook_id}",
            json={"url": url, "secret": secret, "events": events},
            timeout=5,
        )
        response.raise_for_status()

"""moto's server (S3 and KMS) on 127.0.0.1, started and stopped by the tests.

`with MotoServer() as moto:` — `moto.endpoint_url`, `moto.client("s3")`. boto3 talks HTTP to
it exactly as to AWS; the credentials are fixed test values, never real ones.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import Any

import boto3
import httpx

from tests.support.smtp import free_port

REGION = "eu-west-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def moto_available() -> str | None:
    """None when moto's server can run here, else why not."""
    if shutil.which("moto_server", path=os.path.dirname(sys.executable)) is None:
        return "moto_server is not installed (pip install 'moto[server]')"
    return None


class MotoServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MotoServer:
        binary = os.path.join(os.path.dirname(sys.executable), "moto_server")
        self._process = subprocess.Popen(
            [binary, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.endpoint_url}/moto-api/", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("moto_server did not start")

    def __exit__(self, *exc: Any) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def reset(self) -> None:
        """Forget every bucket and key (between tests)."""
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=5)

    def client(self, service: str) -> Any:
        return boto3.client(
            service, region_name=REGION, endpoint_url=self.endpoint_url, **CREDENTIALS
        )

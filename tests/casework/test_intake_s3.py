"""A report with a file, end to end over HTTP, with the attachments on S3 (moto's server on
127.0.0.1): the object is ciphertext under the organisation's prefix, the reporter downloads
the plain file through the app, and a refused report leaves no object behind."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from klankbord.web import create_app
from tests.casework.reporter_flow import receipt_code, send_report
from tests.support.moto import CREDENTIALS

BUCKET = "klankbord-intake"
TEXT = b"Amounts and dates, one per line.\n"


@pytest.fixture
async def s3_client(
    moto: Any, test_database, engine, rollback, monkeypatch
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    settings = dataclasses.replace(
        test_database.settings,
        blob_store="s3",
        s3_bucket=BUCKET,
        aws_endpoint_url=moto.endpoint_url,
    )
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, s3


def objects(s3: Any, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


async def test_intake_file_on_s3_encrypted_and_downloadable(s3_client, world):
    client, s3 = s3_client
    token = world.intake_links["A1"]
    prefix = f"organisations/{world.organisations['A1']}/"
    response = await send_report(
        client,
        token,
        {"q_default_wrongdoing": "Paid twice."},
        files=[("files", ("amounts.txt", TEXT, "text/plain"))],
    )
    assert response.status_code == 200, response.text[:300]
    stored = objects(s3, prefix)
    assert len(stored) == 1
    body = s3.get_object(Bucket=BUCKET, Key=stored[0])["Body"].read()
    assert TEXT not in body and b"Amounts" not in body
    signed_in = await client.post(
        f"/r/{token}/mailbox/sign-in", data={"code": receipt_code(response.text)}
    )
    assert signed_in.status_code == 303
    page = await client.get(f"/r/{token}/mailbox?lang=en")
    link = re.search(rf'href="(/r/{token}/mailbox/files/[0-9a-f-]+)\?lang=en"', page.text)
    assert link
    assert (await client.get(link.group(1))).content == TEXT


async def test_intake_refused_report_leaves_no_object_on_s3(s3_client, world):
    client, s3 = s3_client
    prefix = f"organisations/{world.organisations['A1']}/"
    response = await send_report(
        client,
        world.intake_links["A1"],
        {"q_default_wrongdoing": ""},  # the required answer is missing
        files=[("files", ("amounts.txt", TEXT, "text/plain"))],
    )
    assert response.status_code == 422
    assert objects(s3, prefix) == []
    uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert uploads == []

"""The organisation logo: set by the bureau admin (stripped of metadata, images only), shown
to reporters from our own origin, refused to everyone else."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.forms import csrf_token


def png_with_text() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jan Jansen, HR")
    out = io.BytesIO()
    Image.new("RGB", (60, 20), (10, 90, 70)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


async def upload(client, world, data: bytes, name: str = "logo.png", organisation: str = "A1"):
    page = f"/organisations/{world.organisations[organisation]}/logo"
    token = await csrf_token(client, page)
    return await client.post(
        page, data={"_csrf_token": token}, files=[("logo", (name, data, "image/png"))]
    )


async def test_logo_set_stripped_and_shown_to_reporters(world, sign_in):
    client = await sign_in("admin_A")
    response = await upload(client, world, png_with_text())
    assert response.status_code == 303
    token = world.intake_links["A1"]
    intake = await client.get(f"/r/{token}")
    assert f'src="/r/{token}/logo"' in intake.text
    image = await client.get(f"/r/{token}/logo")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert b"Jan Jansen" not in image.content
    with Image.open(io.BytesIO(image.content)) as shown:
        assert shown.size == (60, 20)
    other = await client.get(f"/r/{world.intake_links['A2']}/logo")
    assert other.status_code == 404


async def test_logo_svg_refused(world, sign_in):
    client = await sign_in("admin_A")
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    response = await upload(client, world, svg, name="logo.svg")
    assert response.status_code == 422
    assert 'id="logo-error"' in response.text
    assert (await client.get(f"/r/{world.intake_links['A1']}/logo")).status_code == 404


async def test_logo_too_large_refused(world, sign_in):
    client = await sign_in("admin_A")
    response = await upload(client, world, b"\x89PNG\r\n\x1a\n" + b"\x00" * (600 * 1024))
    assert response.status_code == 422


async def test_logo_removed(world, sign_in):
    client = await sign_in("admin_A")
    await upload(client, world, png_with_text())
    page = f"/organisations/{world.organisations['A1']}/logo"
    token = await csrf_token(client, page)
    response = await client.post(f"{page}/remove", data={"_csrf_token": token})
    assert response.status_code == 303
    assert (await client.get(f"/r/{world.intake_links['A1']}/logo")).status_code == 404


@pytest.mark.parametrize(("user", "status"), [("counsellor_A1", 403), ("admin_B", 404)])
async def test_logo_others_cannot_set(world, sign_in, user, status):
    client = await sign_in(user)
    token = await csrf_token(client, "/account")  # a valid pair: the refusal is the access
    page = f"/organisations/{world.organisations['A1']}/logo"
    response = await client.post(
        page,
        data={"_csrf_token": token},
        files=[("logo", ("l.png", png_with_text(), "image/png"))],
    )
    assert response.status_code == status
    assert (await client.get(f"/r/{world.intake_links['A1']}/logo")).status_code == 404

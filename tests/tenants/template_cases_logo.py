"""Template rendering cases for the organisation logo page (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from uuid import UUID

from klankbord.tenancy import staff_context
from tests.support.template_case import Case

ORGANISATION = {"id": UUID(int=0x10), "name": "Zorggroep De Linde & Partners"}
ADMIN = staff_context(staff_user_id=UUID(int=0x11), bureau_id=UUID(int=0x12), bureau_admin=True)
PATH = f"/organisations/{ORGANISATION['id']}/logo"
PIXEL = "data:image/png;base64,iVBORw0KGgo="
TITLES = {"nl": "Logo", "en": "Logo", "fr": "Logo"}

CASES: list[Case] = [
    Case(
        id="logo-none",
        template="tenants/logo.html",
        context={
            "organisation": ORGANISATION,
            "logo": "",
            "errors": {},
            "notice": "",
            "max_kb": 512,
        },
        path=PATH,
        principal=ADMIN,
        titles=TITLES,
        texts={"all": ['enctype="multipart/form-data"', "_csrf_token"], "en": ["No logo yet."]},
        absent=["<img"],
    ),
    Case(
        id="logo-saved",
        template="tenants/logo.html",
        context={
            "organisation": ORGANISATION,
            "logo": PIXEL,
            "errors": {},
            "notice": "saved",
            "max_kb": 512,
        },
        path=PATH,
        principal=ADMIN,
        titles=TITLES,
        texts={"all": [f'src="{PIXEL}"', f"{PATH}/remove"], "en": ["The logo is saved."]},
    ),
    Case(
        id="logo-error",
        template="tenants/logo.html",
        context={
            "organisation": ORGANISATION,
            "logo": "",
            "errors": {"logo": "logo_type"},
            "notice": "",
            "max_kb": 512,
        },
        path=PATH,
        principal=ADMIN,
        status_code=422,
        titles={"nl": "Fout: Logo", "en": "Error: Logo", "fr": "Erreur\xa0: Logo"},
        texts={
            "all": ['id="logo-error"', 'aria-invalid="true"'],
            "en": ["Choose a PNG, JPEG or WebP"],
        },
    ),
]

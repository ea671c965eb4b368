"""Template rendering cases for the intake links pages (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from klankbord.tenancy import Role, staff_context
from tenants.intake_links import Link
from tests.support.template_case import Case

NBSP = "\N{NO-BREAK SPACE}"
BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0001")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0002")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0009"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
CONTACT = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0008"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.ORGANISATION_CONTACT)],
)
CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ORGANISATION = {
    "id": ORGANISATION_ID,
    "bureau": BUREAU_ID,
    "name": "Zorggroep De Linde & Partners",
    "languages": "nl,fr",
    "procedures": "integrity,unwanted_behaviour",
}
TOKEN = "k3Jx9Qw7LmN2pR5tV8yBa1c2d3e4f5g6"
URL = f"https://klankbord.example/r/{TOKEN}"
LIVE = Link(
    id=UUID(int=31),
    procedure="integrity",
    anonymity="reporter_chooses",
    status="live",
    token=TOKEN,
    created_at=CREATED,
    retired_at=None,
)
DISABLED = Link(
    id=UUID(int=32),
    procedure="unwanted_behaviour",
    anonymity="anonymous",
    status="disabled",
    token="disabledTokenAbc123456789012345",
    created_at=CREATED,
    retired_at=None,
)
MOVED = Link(
    id=UUID(int=33),
    procedure="integrity",
    anonymity="confidential",
    status="moved",
    token=None,
    created_at=CREATED,
    retired_at=CREATED,
)
LIST_CONTEXT = {
    "organisation": ORGANISATION,
    "links": [LIVE, DISABLED, MOVED],
    "urls": {LIVE.id: URL, DISABLED.id: "https://klankbord.example/r/disabledTokenAbc"},
    "procedures": ["unwanted_behaviour", "integrity"],
    "has_counsellor": True,
    "anonymity_modes": ["anonymous", "confidential", "reporter_chooses"],
    "is_admin": True,
    "form": {"procedure": "", "anonymity": "reporter_chooses"},
    "errors": {},
    "notice": None,
}
LIST_PATH = f"/organisations/{ORGANISATION_ID}/intake-links"
QR = '<svg viewBox="0 0 10 10" class="segno" id="qr-test"></svg>'
PRINT_CONTEXT = {
    "organisation": ORGANISATION,
    "link": LIVE,
    "url": URL,
    "qr": QR,
    "languages": ("nl", "en", "fr"),
    "copies": 8,
}
EXIT = "https://www.google.com/"
INTAKE_TITLES = {"nl": "Een melding doen", "en": "Make a report", "fr": "Faire un signalement"}

CASES: list[Case] = [
    Case(
        id="intake-links-admin",
        template="intake_links/list.html",
        context={**LIST_CONTEXT, "notice": "rotated"},
        path=LIST_PATH,
        principal=ADMIN,
        titles={"nl": "Meldlinks", "en": "Intake links", "fr": "Liens de signalement"},
        texts={
            "all": [
                f"<code>{URL}</code>",
                f'action="{LIST_PATH}/{LIVE.id}/disable"',
                f'action="{LIST_PATH}/{DISABLED.id}/enable"',
                f'href="{LIST_PATH}/{LIVE.id}/rotate"',
                f'href="{LIST_PATH}/{LIVE.id}/poster"',
                f'action="{LIST_PATH}"',
                'name="_csrf_token"',
            ],
            "nl": ["Oud adres, niet meer getoond", "Verplaatst", "De melder kiest"],
            "en": ["Old address, no longer shown", "Create an intake link"],
            "fr": ["Déplacé", "Anonymat"],
        },
        absent=[f"{LIST_PATH}/{DISABLED.id}/poster", f"{LIST_PATH}/{MOVED.id}/rotate"],
    ),
    Case(
        id="intake-links-errors-no-counsellor",
        template="intake_links/list.html",
        context={
            **LIST_CONTEXT,
            "has_counsellor": False,
            "errors": {"procedure": "procedure_not_enabled", "form": "live_link_exists"},
        },
        path=LIST_PATH,
        principal=ADMIN,
        status_code=400,
        titles={
            "nl": "Fout: Meldlinks",
            "en": "Error: Intake links",
            "fr": f"Erreur{NBSP}: Liens de signalement",
        },
        texts={
            "all": ['href="#procedure"', 'aria-invalid="true"'],
            "en": [
                "This procedure is not enabled for the organisation.",
                "This procedure already has a live link.",
                "No counsellor is assigned to this organisation yet.",
            ],
            "nl": ["Er is een probleem", "nog geen vertrouwenspersoon"],
        },
    ),
    Case(
        id="intake-links-contact",
        template="intake_links/list.html",
        context={**LIST_CONTEXT, "is_admin": False, "links": [LIVE], "procedures": []},
        path=LIST_PATH,
        principal=CONTACT,
        titles={"nl": "Meldlinks", "en": "Intake links", "fr": "Liens de signalement"},
        texts={"all": [f"<code>{URL}</code>", f'href="{LIST_PATH}/{LIVE.id}/card"']},
        absent=['method="post"', "_csrf_token", "/rotate"],
    ),
    Case(
        id="intake-links-empty-admin",
        template="intake_links/list.html",
        context={**LIST_CONTEXT, "links": [], "procedures": []},
        path=LIST_PATH,
        principal=ADMIN,
        titles={"nl": "Meldlinks", "en": "Intake links", "fr": "Liens de signalement"},
        texts={"en": ["This organisation has no intake links yet.", "No procedure is enabled"]},
    ),
    Case(
        id="intake-link-rotate",
        template="intake_links/rotate.html",
        context={"organisation": ORGANISATION, "link": LIVE, "url": URL},
        path=f"{LIST_PATH}/{LIVE.id}/rotate",
        principal=ADMIN,
        titles={
            "nl": "Deze meldlink een nieuw adres geven?",
            "en": "Give this link a new address?",
            "fr": f"Donner une nouvelle adresse à ce lien{NBSP}?",
        },
        texts={
            "all": [f"<code>{URL}</code>", f'action="{LIST_PATH}/{LIVE.id}/rotate"'],
            "en": ["must be reprinted", "does not name the organisation"],
            "nl": ["opnieuw afdrukken"],
        },
    ),
    Case(
        id="intake-link-not-live",
        template="intake_links/not_live.html",
        context={"organisation": ORGANISATION, "link": DISABLED},
        path=f"{LIST_PATH}/{DISABLED.id}/poster",
        principal=CONTACT,
        status_code=409,
        titles={
            "nl": "Geen poster voor deze meldlink",
            "en": "No poster for this link",
            "fr": "Pas d'affiche pour ce lien",
        },
        texts={"en": ["This link is disabled."]},
    ),
    Case(
        id="intake-link-poster",
        template="intake_links/poster.html",
        context=PRINT_CONTEXT,
        path=f"{LIST_PATH}/{LIVE.id}/poster",
        principal=CONTACT,
        titles={"nl": "Poster", "en": "Poster", "fr": "Affiche"},
        texts={
            "all": [QR, f"<code>{URL}</code>", 'class="print-sheet poster"', "?language=fr"],
            "nl": ["Klopt er iets niet op je werk?", "niet door je werkgever"],
            "en": ["Something not right at work?", "You may stay anonymous"],
            "fr": [f"Quelque chose ne va pas au travail{NBSP}?"],
        },
    ),
    Case(
        id="intake-link-card",
        template="intake_links/card.html",
        context=PRINT_CONTEXT,
        path=f"{LIST_PATH}/{LIVE.id}/card",
        principal=CONTACT,
        titles={"nl": "Visitekaartjes", "en": "Business cards", "fr": "Cartes de visite"},
        texts={
            "all": [QR, 'class="intake-card intake-card-copy" aria-hidden="true"'],
            "en": ["Report confidentially"],
        },
    ),
    *[
        Case(
            id=f"reporter-{name}",
            template=f"reporter/{name}.html",
            context={"exit_url": EXIT, "kept": []},
            path=f"/r/{TOKEN}",
            status_code=status,
            titles=titles,
            texts={"all": [f'href="{EXIT}"']},
            absent=["_csrf_token", "<form"],
        )
        for name, status, titles in [
            (
                "moved",
                410,
                {
                    "nl": "Deze link is verplaatst",
                    "en": "This link has moved",
                    "fr": "Ce lien a été déplacé",
                },
            ),
            (
                "not_in_use",
                200,
                {
                    "nl": "Deze link is op dit moment niet in gebruik",
                    "en": "This link is not in use at the moment",
                    "fr": "Ce lien n'est pas utilisé pour le moment",
                },
            ),
            (
                "not_found",
                404,
                {"nl": "Pagina niet gevonden", "en": "Page not found", "fr": "Page introuvable"},
            ),
        ]
    ],
]

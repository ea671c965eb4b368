"""Every template, rendered in every language through the app's own Jinja environment and
`templating.page`; a template on disk without a case here fails the suite. Then the language
choice over HTTP: cookie, browser language, the switch and its redirect.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from babel.support import NullTranslations
from jinja2 import meta

from klankbord import i18n
from klankbord.security import Csrf
from klankbord.settings import LANGUAGES, Settings
from klankbord.templating import make_environment, page
from klankbord.tenancy import Role, staff_context
from tenants.choices import Country, MembershipRole, Procedure
from tests.billing import template_cases_billing
from tests.casework import (
    template_cases_annual,
    template_cases_clocks,
    template_cases_questions,
    template_cases_reporter,
    template_cases_time,
)
from tests.support.template_case import Case
from tests.tenants import (
    template_cases_counsellors,
    template_cases_dashboard,
    template_cases_intake_links,
    template_cases_logo,
    template_cases_offboarding,
    template_cases_onboarding,
    template_cases_procedure_texts,
)

SETTINGS = Settings(environment="test")
ENV = make_environment(SETTINGS)
CSRF = Csrf(b"template-tests-key" * 2, secure=False)
DASH = "\N{EN DASH}"  # base.html and organisation.html put it between parts
TITLE_SUFFIX = f" {DASH} Klankbord"
NBSP = "\N{NO-BREAK SPACE}"

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0001")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0002")
CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
PRINCIPAL = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0003"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.COUNSELLOR)],
)

# Rows as tenants/access.py returns them (Piccolo dicts), with names that need escaping.
ORGANISATION = {
    "id": ORGANISATION_ID,
    "bureau": BUREAU_ID,
    "name": "Zorggroep De Linde & Partners",
    "country": Country.NL.value,
    "sector": "care",
    "headcount": 1250,
    "active": True,
    "languages": "nl,fr",
    "procedures": "unwanted_behaviour,integrity",
    "onboarded_at": CREATED,
    "created_at": CREATED,
}
ORGANISATIONS = [
    ORGANISATION,
    {**ORGANISATION, "id": UUID(int=7), "name": "Ville de Namur", "country": Country.BE.value},
]
MEMBERS = [
    {
        "id": UUID(int=11),
        "role": MembershipRole.COUNSELLOR.value,
        "assignment": "primary",
        "staff_user_id": UUID(int=21),
        "display_name": "Sanne de Vries",
    },
    {
        "id": UUID(int=12),
        "role": MembershipRole.ORGANISATION_CONTACT.value,
        "assignment": "primary",
        "staff_user_id": UUID(int=22),
        "display_name": "Karim El Amrani",
    },
]
LINKS = [
    {
        "id": UUID(int=30 + number),
        "organisation": ORGANISATION_ID,
        "bureau": BUREAU_ID,
        "procedure": procedure.value,
        "token": f"k3Jx9{number}Qw7LmN2pR5tV8yB",
        "anonymity": "reporter_chooses",
        "active": procedure is not Procedure.REHABILITATION,
        "retired_at": None,
        "created_at": CREATED,
    }
    for number, procedure in enumerate(Procedure)
]
BUREAUS = [
    {"id": BUREAU_ID, "name": "Vertrouwenspunt Oost", "created_at": CREATED},
    {"id": UUID(int=41), "name": "Bureau Confiance Wallonie", "created_at": CREATED},
]


def _error(status: int, code: str, titles: dict[str, str | None], texts: dict[str, list[str]]):
    return Case(
        id=f"error-{status}",
        template="errors/error.html",
        context={"status": status, "code": code},
        titles=titles,
        texts=texts,
        path="/somewhere",
        status_code=status,
    )


ENROLMENT = SimpleNamespace(
    secret="JBSWY3DPEHPK3PXP", uri="otpauth://totp/x", qr_svg='<svg id="qr-test"></svg>'
)
SIGNED_OUT = "Je bent uitgelogd."

ACCOUNT_CASES = [
    Case(
        id="sign-in",
        template="account/sign_in.html",
        context={
            "email": "",
            "next": "/organisations",
            "error": None,
            "minutes": 0,
            "signed_out": False,
        },
        path="/sign-in",
        titles={"nl": "Inloggen", "en": "Sign in", "fr": "Se connecter"},
        texts={
            "nl": ["Wachtwoord vergeten?", 'name="_csrf_token"'],
            "en": ['value="/organisations"', 'autocomplete="current-password"'],
            "fr": ["Mot de passe oublié"],
        },
        absent=['role="alert"', SIGNED_OUT],
    ),
    Case(
        id="sign-in-refused",
        template="account/sign_in.html",
        context={
            "email": "sanne@example.test",
            "next": "/",
            "error": "sign_in_failed",
            "minutes": 0,
            "signed_out": True,
        },
        path="/sign-in",
        status_code=400,
        titles={"nl": "Inloggen", "en": "Sign in", "fr": "Se connecter"},
        texts={
            "nl": ["Dat lukte niet.", SIGNED_OUT, 'value="sanne@example.test"'],
            "en": ["That did not work. Check what you typed and try again."],
            "fr": ["Cela n'a pas fonctionné."],
        },
    ),
    Case(
        id="sign-in-locked",
        template="account/sign_in.html",
        context={
            "email": "",
            "next": "/",
            "error": "too_many_attempts",
            "minutes": 12,
            "signed_out": False,
        },
        path="/sign-in",
        status_code=429,
        titles={"nl": "Inloggen", "en": "Sign in", "fr": "Se connecter"},
        texts={
            "nl": ["Probeer het over 12 minuten opnieuw."],
            "en": ["Try again in 12 minutes."],
            "fr": ["Réessayez dans 12 minutes."],
        },
    ),
    Case(
        id="sign-in-code",
        template="account/code.html",
        context={"error": None, "minutes": 0},
        path="/sign-in/code",
        titles={"nl": "Inlogcode", "en": "Sign-in code", "fr": "Code de connexion"},
        texts={
            "nl": ["herstelcodes", 'autocomplete="one-time-code"'],
            "fr": ["codes de récupération"],
        },
    ),
    Case(
        id="enrol",
        template="account/enrol.html",
        context={"enrolment": ENROLMENT, "error": "sign_in_failed", "minutes": 0},
        path="/sign-in/enrol",
        status_code=400,
        titles={
            "nl": "Stel je inlogcode in",
            "en": "Set up your sign-in code",
            "fr": "Configurez votre code de connexion",
        },
        texts={
            "all": ['<svg id="qr-test"></svg>', "JBSWY3DPEHPK3PXP"],
            "nl": ["Scan deze QR-code"],
        },
    ),
    Case(
        id="recovery-codes",
        template="account/recovery_codes.html",
        context={"codes": ["k7m2p-x9qrt", "ab3cd-ef4gh"], "next": "/organisations"},
        path="/sign-in/enrol",
        principal=PRINCIPAL,
        titles={
            "nl": "Je herstelcodes",
            "en": "Your recovery codes",
            "fr": "Vos codes de récupération",
        },
        texts={"all": ["<code>k7m2p-x9qrt</code>", 'href="/organisations"']},
    ),
    Case(
        id="sign-out",
        template="account/sign_out.html",
        context={},
        path="/sign-out",
        principal=PRINCIPAL,
        titles={"nl": "Uitloggen", "en": "Sign out", "fr": "Se déconnecter"},
        texts={"all": ['method="post"', 'name="_csrf_token"']},
    ),
    Case(
        id="account",
        template="account/account.html",
        context={"codes_left": 7, "recovery_code_used": True},
        path="/account",
        principal=PRINCIPAL,
        titles={"nl": "Je account", "en": "Your account", "fr": "Votre compte"},
        texts={
            "nl": ["Herstelcodes over: 7", "Overal uitloggen"],
            "en": ["Recovery codes left: 7", "That code no longer works"],
            "fr": ["Se déconnecter partout"],
        },
    ),
]

CASES = [
    # --- invitations and password resets (tests/tenants/test_invitations.py) ---
    *[
        Case(
            id=f"staff{'-errors' if errors else ''}",
            template="invitations/staff.html",
            context={
                "staff": [
                    {
                        "id": UUID(int=51),
                        "email": "sanne@example.test",
                        "display_name": "Sanne de Vries",
                        "bureau_admin": False,
                        "active": True,
                        "invited": True,
                        "memberships": [
                            {"role": "counsellor", "organisation_name": ORGANISATION["name"]}
                        ],
                    },
                    {
                        "id": UUID(int=52),
                        "email": "karim@example.test",
                        "display_name": "Karim El Amrani",
                        "bureau_admin": True,
                        "active": True,
                        "invited": False,
                        "memberships": [],
                    },
                ],
                "organisations": ORGANISATIONS,
                "form": {
                    "email": "nieuw@example.test" if errors else "",
                    "display_name": "Nina <Nieuw>" if errors else "",
                    "role": "counsellor" if errors else "",
                    "organisations": [],
                    "language": "fr",
                },
                "errors": errors,
                "notice": None if errors else "invited",
                "languages": LANGUAGES,
            },
            path="/bureau/staff",
            principal=PRINCIPAL,
            status_code=400 if errors else 200,
            titles=(
                {"nl": "Fout: Medewerkers", "en": "Error: Staff", "fr": f"Erreur{NBSP}: Personnel"}
                if errors
                else {"nl": "Medewerkers", "en": "Staff", "fr": "Personnel"}
            ),
            texts=(
                {
                    "en": [
                        "There is a problem",
                        "There is already an account with this e-mail address.",
                        'href="#organisations"',
                        'aria-describedby="email-error" aria-invalid="true"',
                    ],
                    "all": ['value="nieuw@example.test"', 'value="Nina &lt;Nieuw&gt;"'],
                }
                if errors
                else {
                    "nl": ["De uitnodiging is verstuurd.", "uitgenodigd", "bureaubeheerder"],
                    "en": ["Send a new invitation", "Sanne de Vries", "karim@example.test"],
                    "all": ['name="_csrf_token"', f'value="{UUID(int=51)}"'],
                }
            ),
            absent=[] if errors else ['role="alert"'],
        )
        for errors in ({}, {"email": "email_taken", "organisations": "required"})
    ],
    *[
        Case(
            id=f"invitation-accept{'-errors' if errors else ''}",
            template="invitations/accept.html",
            context={
                "action": "/invitation/k3Jx9Qw7LmN2pR5tV8yB",
                "invitee": {"display_name": "Sanne de Vries", "email": "sanne@example.test"},
                "errors": errors,
                "minutes": 12,
            },
            path="/invitation/k3Jx9Qw7LmN2pR5tV8yB",
            status_code=400 if errors else 200,
            titles={
                "nl": f"{'Fout: ' if errors else ''}Kies je wachtwoord",
                "en": f"{'Error: ' if errors else ''}Choose your password",
                "fr": f"{'Erreur' + NBSP + ': ' if errors else ''}Choisissez votre mot de passe",
            },
            texts=(
                {
                    "en": [
                        "Try again in 12 minutes.",
                        "This password is too easy to guess.",
                        "The two passwords are not the same.",
                    ]
                }
                if errors
                else {
                    "en": ["Welcome to Klankbord, Sanne de Vries."],
                    "all": ['autocomplete="new-password"', 'value="sanne@example.test"'],
                }
            ),
        )
        for errors in (
            {},
            {
                "form": "too_many_attempts",
                "password": "password.too_guessable",
                "confirmation": "mismatch",
            },
        )
    ],
    *[
        Case(
            id=f"link-invalid-{kind}-{state}",
            template="invitations/link_invalid.html",
            context={"kind": kind, "state": state},
            path=f"/{'invitation' if kind == 'invitation' else 'password-reset'}/k3Jx9Qw7",
            status_code=404 if state == "unknown" else 410,
            titles=titles,
            texts={"en": [titles["en"]]},
            absent=["<form"],
        )
        for kind, state, titles in (
            (
                "invitation",
                "expired",
                {
                    "nl": "Deze uitnodiging is verlopen",
                    "en": "This invitation has expired",
                    "fr": "Cette invitation a expiré",
                },
            ),
            (
                "invitation",
                "used",
                {
                    "nl": "Deze uitnodiging is al gebruikt",
                    "en": "This invitation has already been used",
                    "fr": "Cette invitation a déjà été utilisée",
                },
            ),
            (
                "invitation",
                "unknown",
                {
                    "nl": "Deze uitnodigingslink is niet geldig",
                    "en": "This invitation link is not valid",
                    "fr": "Ce lien d'invitation n'est pas valide",
                },
            ),
            (
                "reset",
                "expired",
                {
                    "nl": "Deze link is verlopen",
                    "en": "This link has expired",
                    "fr": "Ce lien a expiré",
                },
            ),
            (
                "reset",
                "used",
                {
                    "nl": "Deze link is al gebruikt",
                    "en": "This link has already been used",
                    "fr": "Ce lien a déjà été utilisé",
                },
            ),
            (
                "reset",
                "unknown",
                {
                    "nl": "Deze link is niet geldig",
                    "en": "This link is not valid",
                    "fr": "Ce lien n'est pas valide",
                },
            ),
        )
    ],
    *[
        Case(
            id=f"password-reset-request{'-locked' if errors else ''}",
            template="invitations/reset_request.html",
            context={
                "email": "sanne@example.test" if errors else "",
                "errors": errors,
                "minutes": 12,
            },
            path="/password-reset",
            status_code=429 if errors else 200,
            titles={
                "nl": f"{'Fout: ' if errors else ''}Wachtwoord vergeten?",
                "en": f"{'Error: ' if errors else ''}Forgot your password?",
                "fr": f"{'Erreur' + NBSP + ': ' if errors else ''}Mot de passe oublié{NBSP}?",
            },
            texts=(
                {"en": ["Try again in 12 minutes."], "all": ['value="sanne@example.test"']}
                if errors
                else {"all": ['name="_csrf_token"', 'href="/sign-in"']}
            ),
        )
        for errors in ({}, {"form": "too_many_attempts"})
    ],
    Case(
        id="password-reset-sent",
        template="invitations/reset_sent.html",
        context={},
        path="/password-reset",
        titles={
            "nl": "Kijk in je e-mail",
            "en": "Check your e-mail",
            "fr": "Consultez vos e-mails",
        },
        texts={"en": ["If the address belongs to a Klankbord account"]},
    ),
    Case(
        id="password-reset-done",
        template="invitations/reset_done.html",
        context={},
        path="/password-reset",
        titles={
            "nl": "Je wachtwoord is gewijzigd",
            "en": "Your password has been changed",
            "fr": "Votre mot de passe a été modifié",
        },
        texts={"all": ['href="/sign-in"']},
    ),
    *[
        Case(
            id=f"password-reset-form{'-errors' if errors else ''}",
            template="invitations/reset_form.html",
            context={"action": "/password-reset/k3Jx9Qw7LmN2pR5tV8yB", "errors": errors},
            path="/password-reset/k3Jx9Qw7LmN2pR5tV8yB",
            status_code=400 if errors else 200,
            titles={
                "nl": f"{'Fout: ' if errors else ''}Kies een nieuw wachtwoord",
                "en": f"{'Error: ' if errors else ''}Choose a new password",
                "fr": (
                    f"{'Erreur' + NBSP + ': ' if errors else ''}Choisissez un nouveau mot de passe"
                ),
            },
            texts=(
                {"en": ["Choose a password of at least 12 characters."]}
                if errors
                else {"all": ['action="/password-reset/k3Jx9Qw7LmN2pR5tV8yB"']}
            ),
        )
        for errors in ({}, {"password": "password.too_short"})
    ],
    Case(
        id="sso-settings-new",
        template="sso/settings.html",
        context={
            "bureau_name": "Vertrouwenspunt Oost",
            "secret_set": False,
            "sign_in_address": None,
            "redirect_uri": "https://klankbord.example/sign-in/sso/callback",
            "issuer": "",
            "client_id": "",
            "enabled": True,
            "errors": {},
            "saved": False,
        },
        path="/bureau/single-sign-on",
        principal=PRINCIPAL,
        titles={
            "nl": "Eenmalige aanmelding",
            "en": "Single sign-on",
            "fr": "Authentification unique",
        },
        texts={
            "nl": ["Vertrouwenspunt Oost", "Het adres verschijnt hier zodra de instellingen"],
            "en": ["The address appears here once the settings are saved."],
            "fr": ["L'adresse apparaîtra ici", "Vertrouwenspunt Oost"],
            "all": [
                "https://klankbord.example/sign-in/sso/callback",
                'name="_csrf_token"',
                'type="password"',
                " checked",
            ],
        },
        absent=["notice-error", 'role="status"'],
    ),
    Case(
        id="sso-settings-saved",
        template="sso/settings.html",
        context={
            "bureau_name": "Vertrouwenspunt Oost",
            "secret_set": True,
            "sign_in_address": f"https://klankbord.example/sign-in/sso/{UUID(int=51)}",
            "redirect_uri": "https://klankbord.example/sign-in/sso/callback",
            "issuer": "https://login.vertrouwenspunt-oost.example",
            "client_id": "klankbord",
            "enabled": False,
            "errors": {},
            "saved": True,
        },
        path="/bureau/single-sign-on",
        principal=PRINCIPAL,
        titles={
            "nl": "Eenmalige aanmelding",
            "en": "Single sign-on",
            "fr": "Authentification unique",
        },
        texts={
            "nl": ["De instellingen zijn opgeslagen.", "Laat dit leeg om het te houden."],
            "en": ["A secret is saved. Leave this empty to keep it."],
            "fr": ["Les paramètres sont enregistrés.", "Laissez ce champ vide pour le garder."],
            "all": [
                f"https://klankbord.example/sign-in/sso/{UUID(int=51)}",
                'value="https://login.vertrouwenspunt-oost.example"',
            ],
        },
        absent=[" checked", "notice-error"],
    ),
    Case(
        id="sso-settings-errors",
        template="sso/settings.html",
        context={
            "bureau_name": "Vertrouwenspunt Oost",
            "secret_set": False,
            "sign_in_address": None,
            "redirect_uri": "https://klankbord.example/sign-in/sso/callback",
            "issuer": "http://login.example",
            "client_id": "",
            "enabled": True,
            "errors": {
                "issuer": "insecure_issuer",
                "client_id": "required",
                "client_secret": "required",
            },
            "saved": False,
        },
        path="/bureau/single-sign-on",
        principal=PRINCIPAL,
        status_code=422,
        titles={
            "nl": "Fout: Eenmalige aanmelding",
            "en": "Error: Single sign-on",
            "fr": f"Erreur{NBSP}: Authentification unique",
        },
        texts={
            "nl": ["Er is een probleem", "Vul het client-ID in.", "Vul het clientgeheim in."],
            "en": ["There is a problem", "Enter an address that starts with https://"],
            "fr": ["Il y a un problème", "Saisissez l'identifiant client."],
            "all": ['href="#issuer"', 'aria-invalid="true"', 'value="http://login.example"'],
        },
    ),
    Case(
        id="sso-failed",
        template="sso/failed.html",
        context={},
        path="/sign-in/sso/callback",
        status_code=400,
        titles={
            "nl": "Eenmalige aanmelding is niet gelukt",
            "en": "Single sign-on did not work",
            "fr": "L'authentification unique n'a pas fonctionné",
        },
        texts={
            "nl": ["Je bent niet ingelogd."],
            "fr": ["Vous n'êtes pas connecté."],
            "all": ['href="/sign-in"'],
        },
    ),
    *ACCOUNT_CASES,
    Case(
        id="home-anonymous",
        template="home.html",
        context={},
        titles={"nl": "Welkom", "en": "Welcome", "fr": "Bienvenue"},
        texts={
            "nl": ["Wil je iets melden?", "Je kunt ook anoniem melden."],
            "en": ["Do you want to report something?"],
            "fr": [f"Vous souhaitez signaler quelque chose{NBSP}?", "lien de signalement"],
        },
        absent=['href="/organisations"'],
    ),
    Case(
        id="home-signed-in",
        template="home.html",
        context={},
        principal=PRINCIPAL,
        titles={"nl": "Welkom", "en": "Welcome", "fr": "Bienvenue"},
        texts={
            "nl": ["Jouw organisaties", 'href="/organisations"'],
            "en": ["Your organisations"],
            "fr": ["Vos organisations"],
        },
    ),
    _error(
        404,
        "not_found",
        {"nl": "Pagina niet gevonden", "en": "Page not found", "fr": "Page introuvable"},
        {"nl": ["Controleer het adres"], "fr": ["Vérifiez l'adresse"]},
    ),
    _error(
        401,
        "not_authenticated",
        {"nl": "Log eerst in", "en": "Sign in first", "fr": "Connectez-vous d'abord"},
        {"nl": ["alleen voor medewerkers"], "fr": ["réservée au personnel connecté"]},
    ),
    _error(
        403,
        "permission_denied",
        {"nl": "Geen toegang", "en": "No access", "fr": "Pas d'accès"},
        {"nl": ["Met jouw rol heb je geen toegang"], "fr": ["Votre rôle ne donne pas accès"]},
    ),
    # The title of other 4xx pages says "Something went wrong" while the heading says the
    # request could not be handled; only the heading is pinned here.
    _error(
        400,
        "bad_request",
        {"nl": None, "en": None, "fr": None},
        {
            "nl": ["<h1>We konden dit verzoek niet verwerken</h1>"],
            "en": ["<h1>This request could not be handled</h1>"],
            "fr": ["<h1>Nous n'avons pas pu traiter cette demande</h1>"],
        },
    ),
    _error(
        500,
        "server_error",
        {"nl": "Er ging iets mis", "en": "Something went wrong", "fr": "Un problème est survenu"},
        {"nl": ["Probeer het zo meteen opnieuw."], "fr": ["Veuillez réessayer dans un instant."]},
    ),
    Case(
        id="bureaus",
        template="tenants/bureaus.html",
        context={"bureaus": BUREAUS},
        path="/platform/bureaus",
        principal=PRINCIPAL,
        titles={"nl": "Bureaus", "en": "Bureaus", "fr": "Bureaux"},
        texts={
            lang: [
                "Vertrouwenspunt Oost",
                "Bureau Confiance Wallonie",
                'href="/platform/bureaus/new"',
            ]
            for lang in LANGUAGES
        }
        | {"fr": ["Nouveau bureau", "Vertrouwenspunt Oost"]},
    ),
    Case(
        id="bureaus-empty",
        template="tenants/bureaus.html",
        context={"bureaus": []},
        path="/platform/bureaus",
        principal=PRINCIPAL,
        titles={"nl": "Bureaus", "en": "Bureaus", "fr": "Bureaux"},
        texts={"nl": ["Er zijn nog geen bureaus."], "fr": ["Aucun bureau pour le moment."]},
    ),
    Case(
        id="organisations",
        template="tenants/organisations.html",
        context={
            "organisations": ORGANISATIONS,
            "page_number": 1,
            "has_next": False,
            "offboarded": False,
        },
        path="/organisations",
        principal=PRINCIPAL,
        titles={"nl": "Organisaties", "en": "Organisations", "fr": "Organisations"},
        texts={
            "nl": ["Aantal medewerkers", "Land", "Zorggroep De Linde &amp; Partners", "Zorg"],
            "en": ["Headcount"],
            "fr": ["Effectif", "Pays", "Ville de Namur", f'href="/organisations/{UUID(int=7)}"'],
        },
        absent=["/organisations/new", 'rel="next"', 'rel="prev"'],
    ),
    Case(
        id="organisations-admin-pages",
        template="tenants/organisations.html",
        context={
            "organisations": [{**ORGANISATION, "onboarded_at": None}],
            "page_number": 2,
            "has_next": True,
            "offboarded": True,
        },
        path="/organisations",
        principal=staff_context(staff_user_id=UUID(int=3), bureau_id=BUREAU_ID, bureau_admin=True),
        titles={"nl": "Organisaties", "en": "Organisations", "fr": "Organisations"},
        texts={
            "nl": [
                "Nieuwe organisatie",
                "in inrichting",
                "Vorige pagina",
                "Volgende pagina",
                "De organisatie is voorgoed verwijderd.",
            ],
            "en": [
                'href="/organisations/new"',
                'href="/organisations?page_number=1" rel="prev"',
                'href="/organisations?page_number=3" rel="next"',
                'href="/bureau/dashboard"',
            ],
            "fr": ["Nouvelle organisation", "Page suivante"],
        },
    ),
    Case(
        id="organisations-empty",
        template="tenants/organisations.html",
        context={"organisations": [], "page_number": 1, "has_next": False, "offboarded": False},
        path="/organisations",
        principal=PRINCIPAL,
        titles={"nl": "Organisaties", "en": "Organisations", "fr": "Organisations"},
        texts={
            "nl": ["Je hebt nog geen organisaties."],
            "fr": ["Vous n'avez encore aucune organisation."],
        },
        absent=["<table"],
    ),
    Case(
        id="organisation-counsellor",
        template="tenants/organisation.html",
        context={
            "organisation": ORGANISATION,
            "members": MEMBERS,
            "links": LINKS,
            "is_admin": False,
            "whistleblower_duties": True,
        },
        path=f"/organisations/{ORGANISATION_ID}",
        principal=PRINCIPAL,
        titles={lang: ORGANISATION["name"] for lang in LANGUAGES},
        texts={
            "nl": [
                "Alle organisaties",
                "Vertrouwenspersonen en contactpersonen",
                f"Sanne de Vries {DASH} vertrouwenspersoon",
                f"Karim El Amrani {DASH} contactpersoon organisatie",
                "Meldlinks",
                "Ongewenst gedrag",
                "Integriteitsschending",
                "Rehabilitatie",
                "actief",
                "uitgeschakeld",
                "Zorg",
                "Nederlands, Frans",
                "Ongewenst gedrag, Integriteitsschending",
                "Ja: een interne meldregeling",
                f'href="/organisations/{ORGANISATION_ID}/intake-links"',
            ],
            "en": ["Intake links", "Unwanted behaviour", "Integrity violation"],
            "fr": [
                "Toutes les organisations",
                "Personnes de confiance et contacts",
                f"Sanne de Vries {DASH} personne de confiance",
                f"Karim El Amrani {DASH} contact de l'organisation",
                "Liens de signalement",
                "Comportement indésirable",
                "Atteinte à l'intégrité",
                "Réhabilitation",
                "désactivé",
            ],
        }
        | {"all": [f"/r/{link['token']}" for link in LINKS]},
        absent=["/offboarding", "/counsellors", "Verder met inrichten"],
    ),
    Case(
        id="organisation-admin-onboarding",
        template="tenants/organisation.html",
        context={
            "organisation": {**ORGANISATION, "onboarded_at": None, "procedures": ""},
            "members": [{**MEMBERS[0], "assignment": "substitute"}],
            "links": [],
            "is_admin": True,
            "whistleblower_duties": False,
        },
        path=f"/organisations/{ORGANISATION_ID}",
        principal=PRINCIPAL,
        titles={lang: ORGANISATION["name"] for lang in LANGUAGES},
        texts={
            "nl": ["Verder met inrichten", "vervangend vertrouwenspersoon", "Nee"],
            "en": [
                f'href="/organisations/{ORGANISATION_ID}/onboarding"',
                f'href="/organisations/{ORGANISATION_ID}/offboarding"',
                f'href="/organisations/{ORGANISATION_ID}/counsellors"',
            ],
            "fr": ["Poursuivre l'intégration", "personne de confiance suppléante"],
        },
    ),
    Case(
        id="organisation-contact",
        template="tenants/organisation.html",
        context={
            "organisation": {**ORGANISATION, "sector": ""},
            "members": [],
            "links": [],
            "is_admin": False,
            "whistleblower_duties": False,
        },
        path=f"/organisations/{ORGANISATION_ID}",
        principal=PRINCIPAL,
        titles={lang: ORGANISATION["name"] for lang in LANGUAGES},
        texts={
            "nl": ["Er is nog niemand toegewezen.", f"<dd>{DASH}</dd>"],
            "fr": ["Personne n'a encore été désigné."],
        },
        absent=["<table", "/r/"],
    ),
]
CASES += [
    *template_cases_onboarding.CASES,
    *template_cases_intake_links.CASES,
    *template_cases_procedure_texts.CASES,
    *template_cases_counsellors.CASES,
    *template_cases_questions.CASES,
    *template_cases_reporter.CASES,
    *template_cases_time.CASES,
    *template_cases_clocks.CASES,
    *template_cases_annual.CASES,
    *template_cases_billing.CASES,
    *template_cases_logo.CASES,
    *template_cases_dashboard.CASES,
    *template_cases_offboarding.CASES,
]


def _request(language: str, path: str, principal: Any) -> Any:
    """Just what `templating.page` reads from a Litestar request."""
    return SimpleNamespace(
        app=SimpleNamespace(state=SimpleNamespace(settings=SETTINGS, csrf=CSRF)),
        cookies={i18n.COOKIE: language},
        headers={},
        query_params={"lang": language},  # reporter pages read the language from the address
        url=SimpleNamespace(path=path),
        scope={"user": principal, "type": "http", "headers": []},
    )


def _context(case: Case, language: str) -> dict[str, Any]:
    response = page(
        _request(language, case.path, case.principal),
        case.template,
        status_code=case.status_code,
        **case.context,
    )
    assert response.template_name == case.template
    assert response.status_code == case.status_code
    return dict(response.context)


def render(case: Case, language: str) -> str:
    return ENV.get_template(case.template).render(_context(case, language))


def _title(page_html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", page_html, re.DOTALL)
    assert match, "no <title>"
    return html.unescape(match[1])


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_template_renders_in_language(case: Case, language: str):
    page_html = render(case, language)

    assert page_html.startswith("<!doctype html>")
    assert f'<html lang="{language}">' in page_html
    current = re.findall(r'hreflang="(\w+)" aria-current="true"', page_html)
    assert current == [language]
    if case.path.startswith("/r/"):  # reporter pages: no cookie, the language is in the address
        assert f'href="{case.path}?lang={language}"' in page_html
        assert "/language?" not in page_html
    else:
        assert f"/language?lang={language}&amp;next={case.path}" in page_html
    title = case.titles[language]
    if title is not None:
        assert _title(page_html) == title + TITLE_SUFFIX
        english = case.titles["en"]
        if language != "en" and english != title:
            assert english not in page_html
    else:
        assert _title(page_html).endswith(TITLE_SUFFIX)
    for text in case.texts.get(language, []) + case.texts.get("all", []):
        assert text in page_html, f"{text!r} missing from {case.template} ({language})"
    for text in case.absent:
        assert text not in page_html, f"{text!r} unexpected in {case.template} ({language})"


def test_template_data_escaped_not_markup():
    case = next(case for case in CASES if case.id == "organisation-counsellor")
    hostile = {**ORGANISATION, "name": "<script>alert(1)</script>", "sector": '"><img src=x>'}
    page_html = render(replace(case, context={**case.context, "organisation": hostile}), "fr")
    assert "<script>alert(1)" not in page_html and "<img src=x>" not in page_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html


def _templates_used_by(name: str) -> set[str]:
    """`name` and every template it extends or includes, recursively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        source = ENV.loader.get_source(ENV, current)[0]
        todo.extend(ref for ref in meta.find_referenced_templates(ENV.parse(source)) if ref)
    return seen


def test_every_template_on_disk_has_a_rendering_case():
    on_disk = set(ENV.list_templates(extensions=["html"]))
    assert "home.html" in on_disk and "base.html" in on_disk
    covered = set().union(*(_templates_used_by(case.template) for case in CASES))
    untested = sorted(on_disk - covered)
    assert not untested, f"add a Case in tests/klankbord/test_templates.py for: {untested}"


class _VisibleText(HTMLParser):
    """Text a person sees or hears: text nodes, and the attributes read aloud."""

    SPOKEN = ("aria-label", "title", "alt", "placeholder")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.chunks.extend(value for key, value in attrs if key in self.SPOKEN and value)
        kind = dict(attrs).get("type")
        # A typed-in value is shown; a CSRF token or a checkbox's value ("yes") is not text.
        if tag == "input" and kind not in ("hidden", "checkbox", "radio"):
            self.chunks.extend(value for key, value in attrs if key == "value" and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.chunks.append(data)


class _Marked(NullTranslations):
    """Wraps every translated string in ⟦ ⟧, so text outside the marks is not translated."""

    def gettext(self, message: str) -> str:
        return f"⟦{message}⟧"

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return f"⟦{singular if n == 1 else plural}⟧"


# Text a template may show as it is: the product name, the language names (each in its own
# language, by design), and the path prefix of an intake link.
LITERAL_ALLOWED = ["Klankbord", *i18n.LANGUAGE_NAMES.values(), "/r/"]


def _data_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, datetime):  # as the `datetime` filter shows it (the check renders nl)
        return [format_datetime(value, "medium", tzinfo=ZoneInfo("Europe/Amsterdam"), locale="nl")]
    if isinstance(value, SimpleNamespace):
        return _data_strings(vars(value))
    if isinstance(value, dict):
        return [text for item in value.values() for text in _data_strings(item)]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _data_strings(item)]
    return [str(value)] if isinstance(value, (int, UUID)) else []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_template_no_untranslated_literal_text(case: Case):
    context = _context(case, "nl") | i18n.gettext_callables(_Marked())
    parser = _VisibleText()
    parser.feed(ENV.get_template(case.template).render(context))
    allowed = sorted({*LITERAL_ALLOWED, *_data_strings(case.context)}, key=len, reverse=True)
    literal = []
    for chunk in parser.chunks:
        rest = re.sub(r"⟦.*?⟧", " ", chunk, flags=re.DOTALL)
        for text in allowed:
            rest = rest.replace(text, " ")
        if re.search(r"[^\W\d_]", rest):
            literal.append(chunk.strip())
    assert not literal, f"{case.template}: text outside _(): {literal}"


# Over HTTP, through the whole app: cookie, Accept-Language and the language switch.


async def test_home_cookie_fr_page_in_french(client):
    client.cookies.set(i18n.COOKIE, "fr")
    response = await client.get("/", headers={"accept-language": "nl-NL,nl;q=0.9"})
    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert f"<title>Bienvenue {DASH} Klankbord</title>" in response.text
    assert f"Vous souhaitez signaler quelque chose{NBSP}?" in response.text


@pytest.mark.parametrize(
    ("accept_language", "language", "heading"),
    [
        ("fr-BE,fr;q=0.9", "fr", f"Vous souhaitez signaler quelque chose{NBSP}?"),
        ("en-GB,en;q=0.8", "en", "Do you want to report something?"),
        ("de-DE,de;q=0.9", "nl", "Wil je iets melden?"),
        (None, "nl", "Wil je iets melden?"),
    ],
)
async def test_home_without_cookie_browser_language_then_dutch(
    client, accept_language, language, heading
):
    headers = {"accept-language": accept_language} if accept_language else {}
    response = await client.get("/", headers=headers)
    assert f'<html lang="{language}">' in response.text
    assert heading in response.text
    assert "set-cookie" not in response.headers  # a default is not a choice


async def test_language_switch_sets_cookie_redirects_to_next(client):
    response = await client.get("/language", params={"lang": "en", "next": "/organisations"})
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/organisations"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{i18n.COOKIE}=en;")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie

    followed = await client.get(
        "/organisations", headers={"accept-language": "fr"}, follow_redirects=True
    )
    assert followed.status_code == 200
    assert followed.url.path == "/sign-in"
    assert '<html lang="en">' in followed.text  # the cookie wins over the browser
    assert "<h1>Sign in</h1>" in followed.text


async def test_language_switch_unknown_language_redirects_without_cookie(client):
    response = await client.get("/language", params={"lang": "de", "next": "/"})
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "next_url",
    ["//evil.example", "//evil.example/organisations", "https://evil.example/", "evil.example"],
)
async def test_language_switch_foreign_next_redirects_home(client, next_url):
    response = await client.get("/language", params={"lang": "en", "next": next_url})
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/"


@pytest.mark.parametrize("next_url", ["/\\evil.example", "/\t/evil.example", "/%2F/evil.example"])
async def test_language_switch_disguised_foreign_next_stays_on_site(client, next_url):
    response = await client.get("/language", params={"lang": "en", "next": next_url})
    location = response.headers["location"]
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\", "/\t")), location


@pytest.mark.parametrize(
    ("user", "path", "texts"),
    [
        (
            "counsellor_A1",
            "/organisations",
            [f"<title>Organisations {DASH} Klankbord</title>", "Effectif"],
        ),
        (
            "counsellor_A1",
            "/organisations/{A1}",
            ["Liens de signalement", "Atteinte à l'intégrité", "contact de l'organisation"],
        ),
        ("contact_A1", "/organisations/{A1}", ["Personnes de confiance et contacts"]),
        ("operator", "/platform/bureaus", [f"<title>Bureaux {DASH} Klankbord</title>"]),
        ("operator", "/organisations", ["<h1>Pas d'accès</h1>"]),
        ("counsellor_A1", "/organisations/{B1}", ["<h1>Page introuvable</h1>"]),
    ],
)
async def test_staff_pages_cookie_fr_in_french(sign_in, world, user, path, texts):
    client = await sign_in(user)
    client.cookies.set(i18n.COOKIE, "fr")
    path = path.format(A1=world.organisations["A1"], B1=world.organisations["B1"])
    response = await client.get(path)
    assert '<html lang="fr">' in response.text
    for text in texts:
        assert text in response.text, f"{text!r} missing from {path} as {user}"

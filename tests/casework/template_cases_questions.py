"""Template rendering cases for the intake question pages (collected by
tests/klankbord/test_templates.py); the preview renders reporter/_questions.html."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from casework.choices import QuestionKind
from casework.questions import Question
from klankbord.tenancy import Role, staff_context
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0201")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0202")
QUESTION_ID = "0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0203"
FOLLOW_UP_ID = "0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0204"
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0205"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
CONTACT = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0206"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.ORGANISATION_CONTACT)],
)
ORGANISATION = {
    "id": ORGANISATION_ID,
    "bureau": BUREAU_ID,
    "name": "Zorggroep De Linde & Partners",
    "languages": "nl,en",
    "procedures": "integrity,rehabilitation",
}
NBSP = "\N{NO-BREAK SPACE}"
OVERVIEW_PATH = f"/organisations/{ORGANISATION_ID}/questions"
LIST_PATH = f"{OVERVIEW_PATH}/integrity"


def _preview(question: Question) -> dict[str, Any]:
    """A question as the macro reads it (a dict: its strings count as data in the tests)."""
    return {**question.__dict__, "kind": question.kind.value, "field": question.field}


PREVIEW = [
    _preview(question)
    for question in (
        Question(
            key=QUESTION_ID,
            kind=QuestionKind.YES_NO,
            label="Is het <nog> bezig?",
            help="Kies ja of nee.",
            required=True,
            choices=(("yes", "Ja"), ("no", "Nee")),
            follows=None,
        ),
        Question(
            key="default:when",
            kind=QuestionKind.DATE,
            label="Wanneer?",
            help="",
            required=False,
            choices=(),
            follows=None,
        ),
        Question(
            key=FOLLOW_UP_ID,
            kind=QuestionKind.LONG_TEXT,
            label="Wie weet het nog meer?",
            help="",
            required=False,
            choices=(),
            follows=(QUESTION_ID, "yes"),
        ),
        Question(
            key="default:reference",
            kind=QuestionKind.TEXT,
            label="Kenmerk",
            help="",
            required=False,
            choices=(),
            follows=None,
        ),
    )
]


def _entry(key: str, kind: str, label: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": key if not key.startswith("default:") else "",
        "key": key,
        "kind": kind,
        "required": False,
        "labels": {"nl": label, "en": f"{label} (en)"},
        "helps": {},
        "label": label,
        "choices": [],
        "follows": None,
        "follows_value": "",
        "follows_label": "",
        "follows_answer": "",
        "depth": 0,
        "followed": False,
        "first": True,
        "last": True,
    }
    entry.update(extra)
    return entry


OWN_ENTRIES = [
    _entry(QUESTION_ID, "yes_no", "Is het <nog> bezig?", required=True, followed=True, last=False),
    _entry(
        FOLLOW_UP_ID,
        "long_text",
        "Wie weet het nog meer?",
        follows=QUESTION_ID,
        follows_value="yes",
        follows_label="Is het <nog> bezig?",
        follows_answer="Ja",
        depth=1,
    ),
    _entry(
        "0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0207",
        "choice",
        "Welke afdeling?",
        choices=[{"value": "1", "label": "Inkoop"}, {"value": "2", "label": "Verkoop"}],
        helps={"nl": "Kies er een."},
        first=False,
    ),
]
BUILT_IN_ENTRIES = [
    _entry("default:wrongdoing", "long_text", "Wat is de vermoedelijke misstand?", required=True),
    _entry("default:when", "date", "Wanneer?", first=False),
]
EMPTY_FORM: dict[str, Any] = {"kind": "", "required": False, "follows": ""} | {
    f"{field}_{code}": "" for field in ("label", "help", "choices") for code in ("nl", "en", "fr")
}
FOLLOW_OPTIONS = [
    {"value": f"{QUESTION_ID}:yes", "question": "Is het <nog> bezig?", "answer": "Ja"},
    {"value": f"{QUESTION_ID}:no", "question": "Is het <nog> bezig?", "answer": "Nee"},
]
KINDS = [kind.value for kind in QuestionKind]


def _list_context(**changes: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "organisation": ORGANISATION,
        "procedure": "integrity",
        "own": True,
        "languages": ["nl", "en"],
        "entries": OWN_ENTRIES,
        "preview": PREVIEW,
        "follow_options": FOLLOW_OPTIONS,
        "kinds": KINDS,
        "is_admin": True,
        "notice": "added",
        "form": EMPTY_FORM,
        "errors": {},
    }
    return context | changes


LIST_TITLES: dict[str, str | None] = {
    "nl": "Meldvragen: Integriteitsschending",
    "en": "Intake questions: Integrity violation",
    "fr": f"Questions du signalement{NBSP}: Atteinte à l'intégrité",
}

CASES: list[Case] = [
    Case(
        id="questions-overview",
        template="questions/organisation.html",
        context={
            "organisation": ORGANISATION,
            "procedures": [{"code": "integrity", "own": 3}, {"code": "rehabilitation", "own": 0}],
        },
        path=OVERVIEW_PATH,
        principal=CONTACT,
        titles={"nl": "Meldvragen", "en": "Intake questions", "fr": "Questions du signalement"},
        texts={
            "all": ["Zorggroep De Linde &amp; Partners", f'href="{LIST_PATH}"'],
            "en": ["3 questions of this organisation", "Built-in questions"],
            "nl": ["Rehabilitatie", "Ingebouwde vragen"],
        },
    ),
    Case(
        id="questions-list-own-admin",
        template="questions/list.html",
        context=_list_context(),
        path=LIST_PATH,
        principal=ADMIN,
        titles=LIST_TITLES,
        texts={
            "all": [
                "Is het &lt;nog&gt; bezig?",
                f'action="{LIST_PATH}/{QUESTION_ID}/move"',
                f'action="{LIST_PATH}/add"',
                f'action="{LIST_PATH}/reset"',
                'name="_csrf_token"',
                f'<option value="{QUESTION_ID}:yes">',
                f'<fieldset class="field question" id="q_{QUESTION_ID.replace("-", "_")}-group"',
                'type="date" id="q_default_when"',
                '<input type="hidden" name="shown"',
                'rows="8"',
                "<li>Inkoop</li>",
            ],
            "en": [
                "The question has been added.",
                "Other questions follow this one, so it cannot be deleted.",
                "Only shown when “Is het &lt;nog&gt; bezig?” is answered “Ja”.",
                "Wanneer? (optional)",
                "Preview of the report form",
            ],
        },
        absent=['aria-invalid="true"', "<nog>", f"{LIST_PATH}/customise"],
    ),
    Case(
        id="questions-list-built-in-contact",
        template="questions/list.html",
        context=_list_context(
            own=False,
            entries=BUILT_IN_ENTRIES,
            preview=PREVIEW[:2],
            follow_options=[],
            is_admin=False,
            notice="reset",
        ),
        path=LIST_PATH,
        principal=CONTACT,
        titles=LIST_TITLES,
        texts={"en": ["This organisation uses the built-in questions.", "apply again"]},
        absent=["<form method", "/move", "/delete"],
    ),
    Case(
        id="questions-list-built-in-admin",
        template="questions/list.html",
        context=_list_context(own=False, entries=BUILT_IN_ENTRIES, notice="", follow_options=[]),
        path=LIST_PATH,
        principal=ADMIN,
        titles=LIST_TITLES,
        texts={
            "all": [f'action="{LIST_PATH}/customise"'],
            "en": ["Change the questions for this organisation"],
        },
        absent=[f"{LIST_PATH}/add", f"{LIST_PATH}/reset"],
    ),
    Case(
        id="questions-list-errors",
        template="questions/list.html",
        context=_list_context(
            notice="",
            form=EMPTY_FORM
            | {"kind": "choice", "label_nl": "Mijn <vraag>", "choices_nl": "Een", "follows": ""},
            errors={"label_en": "required", "choices_nl": "too_few", "form": "has_follow_ups"},
        ),
        path=LIST_PATH,
        principal=ADMIN,
        status_code=400,
        titles={
            "nl": f"Fout: {LIST_TITLES['nl']}",
            "en": f"Error: {LIST_TITLES['en']}",
            "fr": f"Erreur{NBSP}: {LIST_TITLES['fr']}",
        },
        texts={
            "all": [
                'value="Mijn &lt;vraag&gt;"',
                ">\nEen</textarea>",
                'href="#label_en"',
                'aria-invalid="true"',
                'value="choice" checked',
            ],
            "en": [
                "There is a problem",
                "Enter at least two answers, one per line.",
                "other questions follow it",
            ],
        },
    ),
]

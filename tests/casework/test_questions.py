"""Intake questions: the built-in ones per procedure, an organisation's own replacing them,
follow-ups (chains, hidden values kept but not stored), every error code, limits, dates, and
a reporter context that reads its own organisation's questions and no other's."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from casework import question_admin
from casework.choices import QuestionKind
from casework.default_questions import DEFAULT_QUESTIONS
from casework.question_admin import QuestionForm
from casework.questions import (
    MAX_LONG_TEXT,
    MAX_TEXT,
    Question,
    field_name,
    parse_date,
    questions_for,
    read_answers,
    shown,
)
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tables import AuditEvent
from klankbord.tenancy import reporter_context, system_context, tenant_transaction
from tenants.choices import Procedure

TODAY = date(2026, 12, 3)
CATALOGS = {language: (lambda text: text) for language in ("nl", "en", "fr")}


def echo(text: str) -> str:
    return text


def upper(text: str) -> str:
    return text.upper()


def _q(key: str, kind: QuestionKind, *, required: bool = False, follows=None, choices=()):
    return Question(
        key=key,
        kind=kind,
        label=f"Label {key}",
        help="",
        required=required,
        choices=tuple(choices),
        follows=follows,
    )


# A chain: kind=other → other (text) ; witnesses=yes → who (long) → who=… no; and a date.
KIND = _q("kind", QuestionKind.CHOICE, choices=[("a", "Alpha"), ("other", "Other")])
OTHER = _q("other", QuestionKind.CHOICE, follows=("kind", "other"), choices=[("x", "Ex")])
DEEP = _q("deep", QuestionKind.TEXT, required=True, follows=("other", "x"))
STORY = _q("story", QuestionKind.LONG_TEXT, required=True)
WHEN = _q("when", QuestionKind.DATE)
YES_NO = _q("yn", QuestionKind.YES_NO, choices=[("yes", "Ja"), ("no", "Nee")])
TEXT = _q("text", QuestionKind.TEXT)
QUESTIONS = [KIND, OTHER, DEEP, STORY, WHEN, YES_NO, TEXT]


def _read(form: dict[str, str], shown_before=(), questions=QUESTIONS):
    return read_answers(questions, form, shown_before=shown_before, gettext=echo, today=TODAY)


# --- built-in questions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "required_key", "follow_ups"),
    [
        (Procedure.UNWANTED_BEHAVIOUR, "default:what_happened", 2),
        (Procedure.INTEGRITY, "default:wrongdoing", 1),
        (Procedure.REHABILITATION, "default:accusation", 0),
    ],
)
async def test_questions_for_without_rows_built_in_in_language(
    world, rollback, procedure, required_key, follow_ups
):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        questions = await questions_for(
            ctx,
            organisation_id=world.organisations["A1"],
            procedure=procedure.value,
            language="nl",
            gettext=upper,
        )
    assert [q.key for q in questions] == [f"default:{d.name}" for d in DEFAULT_QUESTIONS[procedure]]
    assert [q.key for q in questions if q.required] == [required_key]
    assert questions[0].kind is QuestionKind.LONG_TEXT
    assert all(q.label == q.label.upper() and q.label for q in questions)  # through gettext
    assert sum(1 for q in questions if q.follows) == follow_ups
    keys = {q.key for q in questions}
    assert all(q.follows[0] in keys for q in questions if q.follows)
    assert all(q.choices for q in questions if q.kind in ("choice", "yes_no"))


def test_default_unwanted_behaviour_choices_and_follow_ups():
    questions = {d.name: d for d in DEFAULT_QUESTIONS[Procedure.UNWANTED_BEHAVIOUR]}
    assert [value for value, _label in questions["behaviour"].choices] == [
        "bullying",
        "sexual_harassment",
        "intimidation",
        "discrimination",
        "aggression",
        "other",
    ]
    assert questions["behaviour_other"].follows == ("behaviour", "other")
    assert questions["witnesses_who"].follows == ("witnesses", "yes")
    assert questions["witnesses_who"].help == "You may leave names out."


def test_field_name_safe_and_distinct():
    key = str(uuid4())
    assert field_name("default:what_happened") == "q_default_what_happened"
    assert field_name(key) == "q_" + key.replace("-", "_")
    assert _q("default:x", QuestionKind.TEXT).field == "q_default_x"


# --- shown and follow-ups -----------------------------------------------------------------


def test_shown_follow_up_chain_only_when_each_parent_matches():
    assert shown(QUESTIONS, {}) == [KIND, STORY, WHEN, YES_NO, TEXT]
    assert OTHER in shown(QUESTIONS, {KIND.field: "other"})
    assert DEEP not in shown(QUESTIONS, {KIND.field: "other"})
    assert DEEP in shown(QUESTIONS, {KIND.field: "other", OTHER.field: "x"})
    # The middle of the chain hidden: its follow-up is hidden too, whatever its own parent's value.
    assert DEEP not in shown(QUESTIONS, {KIND.field: "a", OTHER.field: "x"})


def test_read_answers_newly_shown_follow_up_comes_back_unchecked():
    answers = _read({KIND.field: "other", STORY.field: "It happened."})
    assert answers.newly_shown == (OTHER.field,)
    assert not answers.errors
    assert not answers.complete


def test_read_answers_follow_up_seen_before_is_checked_and_chain_continues():
    answers = _read(
        {KIND.field: "other", OTHER.field: "x", STORY.field: "Story"},
        shown_before=[OTHER.field],
    )
    assert answers.newly_shown == (DEEP.field,)
    answers = _read(
        {KIND.field: "other", OTHER.field: "x", STORY.field: "Story"},
        shown_before=[OTHER.field, DEEP.field],
    )
    assert answers.errors == {DEEP.field: "question_required"}


def test_read_answers_hidden_follow_up_value_kept_not_checked_not_stored():
    answers = _read(
        {KIND.field: "a", OTHER.field: "nonsense", DEEP.field: "secret", STORY.field: "Story"},
        shown_before=[OTHER.field, DEEP.field],
    )
    assert answers.complete
    assert answers.values[OTHER.field] == "nonsense"
    assert answers.values[DEEP.field] == "secret"
    assert [item["key"] for item in answers.asked] == ["kind", "story"]


def test_read_answers_complete_snapshot_display_text():
    answers = _read(
        {
            KIND.field: "other",
            OTHER.field: "x",
            DEEP.field: "  deep answer  ",
            STORY.field: "Line one\r\nLine two",
            WHEN.field: "3/12/2026",
            YES_NO.field: "no",
            TEXT.field: "",
        },
        shown_before=[OTHER.field, DEEP.field],
    )
    assert answers.complete
    assert answers.values[DEEP.field] == "deep answer"
    assert answers.asked == [
        {"key": "kind", "label": "Label kind", "kind": "choice", "answer": "Other"},
        {"key": "other", "label": "Label other", "kind": "choice", "answer": "Ex"},
        {"key": "deep", "label": "Label deep", "kind": "text", "answer": "deep answer"},
        {
            "key": "story",
            "label": "Label story",
            "kind": "long_text",
            "answer": "Line one\nLine two",
        },
        {"key": "when", "label": "Label when", "kind": "date", "answer": "2026-12-03"},
        {"key": "yn", "label": "Label yn", "kind": "yes_no", "answer": "Nee"},
    ]


def test_read_answers_yes_no_without_choices_in_gettext_language():
    question = _q("yn", QuestionKind.YES_NO)
    answers = read_answers(
        [question], {question.field: "yes"}, shown_before=(), gettext=upper, today=TODAY
    )
    assert answers.asked[0]["answer"] == "YES"


# --- errors and limits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "value", "error"),
    [
        (STORY, "", "question_required"),
        (STORY, "   ", "question_required"),
        (STORY, "x" * (MAX_LONG_TEXT + 1), "question_too_long"),
        (TEXT, "x" * (MAX_TEXT + 1), "question_too_long"),
        (KIND, "b", "question_bad_choice"),
        (YES_NO, "maybe", "question_bad_choice"),
        (WHEN, "2026-12-04", "question_bad_date"),
        (WHEN, "31-2-2026", "question_bad_date"),
        (WHEN, "yesterday", "question_bad_date"),
        (WHEN, "3-12/2026", "question_bad_date"),
        (WHEN, "1850-01-01", "question_bad_date"),
    ],
)
def test_read_answers_error_code_value_kept(question, value, error):
    form = {STORY.field: "Story", question.field: value}
    answers = _read(form)
    assert answers.errors == {question.field: error}
    assert answers.values[question.field] == value.strip()
    assert not answers.complete


@pytest.mark.parametrize(
    ("question", "value"),
    [(STORY, "x" * MAX_LONG_TEXT), (TEXT, "x" * MAX_TEXT), (WHEN, "2026-12-03")],
)
def test_read_answers_at_limit_accepted(question, value):
    assert _read({STORY.field: "Story", question.field: value}).complete


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-21", date(2026, 3, 21)),
        ("2026-3-1", date(2026, 3, 1)),
        ("21-3-2026", date(2026, 3, 21)),
        ("21/03/2026", date(2026, 3, 21)),
        ("2026/03/21", None),
        ("21.3.2026", None),
        ("29-2-2025", None),
        ("", None),
    ],
)
def test_parse_date_formats(text, expected):
    assert parse_date(text) == expected


# --- an organisation's own questions ------------------------------------------------------


async def _own_questions(world: Any, organisation: str = "A1") -> list[dict[str, Any]]:
    admin = world.ctx(f"admin_{organisation[0]}")
    organisation_id = world.organisations[organisation]
    await question_admin.customise(
        admin, organisation_id=organisation_id, procedure="integrity", catalogs=CATALOGS
    )
    question_id = await question_admin.add_question(
        admin,
        organisation_id=organisation_id,
        procedure="integrity",
        form=QuestionForm(
            kind="choice",
            labels={"nl": "Welke afdeling?", "en": "Which department?"},
            choices={"nl": "Inkoop\nVerkoop", "en": "Purchasing\nSales"},
            required=True,
        ),
        catalogs=CATALOGS,
    )
    return [{"id": question_id}]


async def _questions(ctx, organisation_id, language="nl"):
    async with tenant_transaction(ctx):
        return await questions_for(
            ctx,
            organisation_id=organisation_id,
            procedure="integrity",
            language=language,
            gettext=echo,
        )


async def test_questions_for_own_rows_override_defaults_in_language(world, rollback):
    (added,) = await _own_questions(world)
    questions = await _questions(world.ctx("counsellor_A1"), world.organisations["A1"], "en")
    assert questions[-1].key == str(added["id"])
    assert questions[-1].label == "Which department?"
    assert questions[-1].choices == (("1", "Purchasing"), ("2", "Sales"))
    assert not any(q.key.startswith("default:") for q in questions)
    follow_up = next(q for q in questions if q.follows)
    parent = next(q for q in questions if q.key == follow_up.follows[0])
    assert questions.index(follow_up) == questions.index(parent) + 1
    # A language the row has no text in: Dutch.
    french = await _questions(world.ctx("counsellor_A1"), world.organisations["A1"], "fr")
    assert french[-1].label == "Welke afdeling?"
    # Another organisation still has the built-in questions.
    other = await _questions(world.ctx("counsellor_A2"), world.organisations["A2"])
    assert other[0].key == "default:wrongdoing"


async def test_questions_for_reporter_reads_own_organisation_not_another(world, rollback):
    (added,) = await _own_questions(world, "B1")
    bureau = world.bureaus["B"]
    own = reporter_context(bureau_id=bureau, organisation_id=world.organisations["B1"])
    questions = await _questions(own, world.organisations["B1"])
    assert str(added["id"]) in {q.key for q in questions}

    sibling = reporter_context(bureau_id=bureau, organisation_id=world.organisations["B2"])
    with pytest.raises(NotFound):
        await _questions(sibling, world.organisations["B1"])
    foreign = reporter_context(
        bureau_id=world.bureaus["A"], organisation_id=world.organisations["A1"]
    )
    with pytest.raises(NotFound):
        await _questions(foreign, world.organisations["B1"])
    assert (await _questions(sibling, world.organisations["B2"]))[0].key == "default:wrongdoing"


async def test_questions_for_unknown_procedure_or_foreign_staff_not_found(world, rollback):
    ctx = world.ctx("counsellor_A1")
    async with tenant_transaction(ctx):
        with pytest.raises(NotFound):
            await questions_for(
                ctx,
                organisation_id=world.organisations["A1"],
                procedure="whistleblowing",
                language="nl",
                gettext=echo,
            )
    with pytest.raises(NotFound):
        await _questions(ctx, world.organisations["A2"])


# --- the staff services -------------------------------------------------------------------


async def _rows(organisation_id) -> list[dict[str, Any]]:
    from casework.tables import IntakeQuestion

    async with tenant_transaction(system_context("test-read")):
        return (
            await IntakeQuestion.select()
            .where(IntakeQuestion.organisation == organisation_id)
            .order_by(IntakeQuestion.position)
        )


async def test_customise_copies_every_language_follow_ups_linked_audited(world, rollback):
    organisation_id = world.organisations["A1"]
    translations = {
        language: (lambda text, language=language: f"{language}:{text}")
        for language in ("nl", "en", "fr")
    }
    count = await question_admin.customise(
        world.ctx("admin_A"),
        organisation_id=organisation_id,
        procedure="unwanted_behaviour",
        catalogs=translations,
    )
    rows = await _rows(organisation_id)
    assert count == len(rows) == len(DEFAULT_QUESTIONS[Procedure.UNWANTED_BEHAVIOUR])
    first = json.loads(rows[0]["label"])
    assert first == {
        "nl": "nl:What happened?",
        "en": "en:What happened?",
        "fr": "fr:What happened?",
    }
    behaviour = rows[1]
    assert json.loads(behaviour["choices"])[0] == {
        "value": "bullying",
        "label": {"nl": "nl:Bullying", "en": "en:Bullying", "fr": "fr:Bullying"},
    }
    assert rows[2]["follows"] == behaviour["id"] and rows[2]["follows_value"] == "other"
    async with tenant_transaction(system_context("test-read")):
        events = await AuditEvent.select().where(
            (AuditEvent.action == "intake_questions.customised")
            & (AuditEvent.organisation == organisation_id)
        )
    assert len(events) == 1
    assert "What happened" not in json.dumps(events[0]["detail"], default=str)
    with pytest.raises(Invalid) as refused:
        await question_admin.customise(
            world.ctx("admin_A"),
            organisation_id=organisation_id,
            procedure="unwanted_behaviour",
            catalogs=translations,
        )
    assert refused.value.fields == {"form": "already_own"}


async def test_add_question_invalid_every_field_error_nothing_stored(world, rollback):
    organisation_id = world.organisations["A1"]
    with pytest.raises(Invalid) as refused:
        await question_admin.add_question(
            world.ctx("admin_A"),
            organisation_id=organisation_id,
            procedure="integrity",
            form=QuestionForm(
                kind="choice",
                labels={"nl": "x" * 301},
                helps={"en": "h" * 1001},
                choices={"nl": "Een\nTwee\nDrie", "en": "One"},
                follows=f"{uuid4()}:yes",
            ),
            catalogs=CATALOGS,
        )
    assert refused.value.fields == {
        "label_nl": "too_long",
        "label_en": "required",
        "help_en": "too_long",
        "choices_en": "too_few",
        "follows": "unknown",
    }
    assert await _rows(organisation_id) == []


async def test_add_question_choice_counts_must_match(world, rollback):
    with pytest.raises(Invalid) as refused:
        await question_admin.add_question(
            world.ctx("admin_A"),
            organisation_id=world.organisations["A1"],
            procedure="integrity",
            form=QuestionForm(
                kind="choice",
                labels={"nl": "Vraag", "en": "Question"},
                choices={"nl": "Een\nTwee\nDrie", "en": "One\nTwo"},
            ),
            catalogs=CATALOGS,
        )
    assert refused.value.fields == {"choices_en": "count_mismatch"}


async def test_delete_question_followed_or_last_refused(world, rollback):
    organisation_id = world.organisations["A1"]
    admin = world.ctx("admin_A")
    await question_admin.customise(
        admin, organisation_id=organisation_id, procedure="rehabilitation", catalogs=CATALOGS
    )
    await question_admin.customise(
        admin, organisation_id=organisation_id, procedure="integrity", catalogs=CATALOGS
    )
    rows = [row for row in await _rows(organisation_id) if row["procedure"] == "integrity"]
    parent = next(row for row in rows if any(other["follows"] == row["id"] for other in rows))
    with pytest.raises(Invalid) as refused:
        await question_admin.delete_question(
            admin, organisation_id=organisation_id, procedure="integrity", question_id=parent["id"]
        )
    assert refused.value.fields == {"form": "has_follow_ups"}
    rehabilitation = [
        row for row in await _rows(organisation_id) if row["procedure"] == "rehabilitation"
    ]
    for row in rehabilitation[:-1]:
        await question_admin.delete_question(
            admin,
            organisation_id=organisation_id,
            procedure="rehabilitation",
            question_id=row["id"],
        )
    with pytest.raises(Invalid) as refused:
        await question_admin.delete_question(
            admin,
            organisation_id=organisation_id,
            procedure="rehabilitation",
            question_id=rehabilitation[-1]["id"],
        )
    assert refused.value.fields == {"form": "last_question"}


async def test_move_question_among_siblings_then_reset(world, rollback):
    organisation_id = world.organisations["A1"]
    admin = world.ctx("admin_A")
    await question_admin.customise(
        admin, organisation_id=organisation_id, procedure="rehabilitation", catalogs=CATALOGS
    )
    before = [row["id"] for row in await _rows(organisation_id)]
    assert await question_admin.move_question(
        admin,
        organisation_id=organisation_id,
        procedure="rehabilitation",
        question_id=before[1],
        direction="up",
    )
    assert [row["id"] for row in await _rows(organisation_id)] == [
        before[1],
        before[0],
        *before[2:],
    ]
    assert not await question_admin.move_question(
        admin,
        organisation_id=organisation_id,
        procedure="rehabilitation",
        question_id=before[1],
        direction="up",
    )
    with pytest.raises(Invalid):
        await question_admin.move_question(
            admin,
            organisation_id=organisation_id,
            procedure="rehabilitation",
            question_id=before[1],
            direction="sideways",
        )
    assert await question_admin.reset_questions(
        admin, organisation_id=organisation_id, procedure="rehabilitation"
    ) == len(before)
    assert await _rows(organisation_id) == []


@pytest.mark.parametrize("user", ["counsellor_A1", "contact_A1"])
async def test_staff_services_not_admin_permission_denied(world, rollback, user):
    with pytest.raises(PermissionDenied):
        await question_admin.customise(
            world.ctx(user),
            organisation_id=world.organisations["A1"],
            procedure="integrity",
            catalogs=CATALOGS,
        )


@pytest.mark.parametrize(("user", "organisation"), [("admin_B", "A1"), ("counsellor_A1", "A2")])
async def test_staff_services_foreign_organisation_not_found(world, rollback, user, organisation):
    with pytest.raises(NotFound):
        await question_admin.reset_questions(
            world.ctx(user),
            organisation_id=world.organisations[organisation],
            procedure="integrity",
        )
    with pytest.raises(NotFound):
        await question_admin.add_question(
            world.ctx(user),
            organisation_id=world.organisations[organisation],
            procedure="integrity",
            form=QuestionForm(),
            catalogs=CATALOGS,
        )


# --- the reporter's macro -----------------------------------------------------------------


def test_question_fields_macro_errors_hints_follow_ups_radios():
    from klankbord import i18n
    from klankbord.settings import Settings
    from klankbord.templating import make_environment

    env = make_environment(Settings(environment="test"))
    macro = env.get_template("reporter/_questions.html").make_module(
        i18n.gettext_callables(i18n.translations(Settings().frontend_dir / "locales", "en"))
    )
    required = Question(
        "default:x", QuestionKind.LONG_TEXT, "Story", "Hint", True, (), None, "Enter the story"
    )
    radios = _q("kind", QuestionKind.CHOICE, choices=[("a", "Alpha"), ("other", "Other")])
    follow_up = _q("other", QuestionKind.TEXT, follows=("kind", "other"))
    html = str(
        macro.question_fields(
            [required, radios, follow_up],
            {required.field: "typed <b>", radios.field: "other"},
            {required.field: "question_required", follow_up.field: "question_too_long"},
        )
    )
    assert '<label class="question-label" for="q_default_x">Story</label>' in html
    assert 'aria-describedby="q_default_x-hint q_default_x-error" aria-invalid="true"' in html
    assert '<p class="error-message" id="q_default_x-error">' in html and "Enter the story" in html
    assert ">\ntyped &lt;b&gt;</textarea>" in html and 'rows="8"' in html
    assert '<legend class="question-label">Label kind (optional)</legend>' in html
    assert 'id="q_kind" name="q_kind" value="a">' in html
    assert 'id="q_kind-2" name="q_kind" value="other" checked>' in html
    assert html.count('name="shown"') == 1 and 'name="shown" value="q_other"' in html
    assert "at most 300 characters" in html

"""Intake questions: what a procedure's report form asks, and reading the answers.

An organisation's own questions (`IntakeQuestion` rows, text per language) replace the
built-in ones (`default_questions`) for a procedure as soon as it has one. `questions_for`
resolves them in one language; everything after that is pure, so the intake form can show,
check and store the answers without touching the database again.

A follow-up question (`follows`) is shown only when its parent got that answer. What the
reporter typed into a follow-up that is hidden again stays in `Answers.values` (nothing typed
is lost when they change their mind twice) but is neither checked nor stored. A follow-up
that has just appeared sends the form back first: it is never checked before it was seen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from casework.choices import QuestionKind
from casework.default_questions import DEFAULT_QUESTIONS, DefaultQuestion, yes_no_labels
from casework.tables import IntakeQuestion
from klankbord.errors import NotFound
from klankbord.tenancy import TenantContext, require_transaction, scoped
from tenants.access import access_organisation
from tenants.choices import Procedure

MAX_TEXT = 300
MAX_LONG_TEXT = 20_000
DEFAULT_PREFIX = "default:"
# Dates are typed as the reporter's calendar shows them: "today" is today in NL and BE.
_LOCAL = ZoneInfo("Europe/Amsterdam")

Gettext = Callable[[str], str]


@dataclass(frozen=True)
class Question:
    """One question, resolved in one language. `required_error` (built-in questions): the
    specific "Enter …" message for an empty answer; otherwise the form's generic one."""

    key: str
    kind: QuestionKind
    label: str
    help: str
    required: bool
    choices: tuple[tuple[str, str], ...]
    follows: tuple[str, str] | None
    required_error: str = ""

    @property
    def field(self) -> str:
        return field_name(self.key)


def field_name(key: str) -> str:
    """The form field of a question key: a name that is also a valid HTML id."""
    return "q_" + re.sub(r"[^a-z0-9]", "_", key.lower())


# --- stored text per language -------------------------------------------------------------


def parse_texts(raw: str | None) -> dict[str, str]:
    """A stored `{"nl": …, "en": …}`; anything else reads as no text."""
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(language): str(text) for language, text in value.items() if text}


def parse_choices(raw: str | None) -> list[tuple[str, dict[str, str]]]:
    """A stored `[{"value": …, "label": {"nl": …}}]` as (value, texts) pairs."""
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    if not isinstance(value, list):
        return []
    return [
        (str(item["value"]), parse_texts(json.dumps(item.get("label", {}))))
        for item in value
        if isinstance(item, dict) and item.get("value")
    ]


def localised(texts: Mapping[str, str], language: str) -> str:
    """The text in `language`, else in Dutch, else in any language it has."""
    return texts.get(language) or texts.get("nl") or next(iter(texts.values()), "")


# --- which questions ----------------------------------------------------------------------


def known_procedure(procedure: str) -> Procedure:
    try:
        return Procedure(procedure)
    except ValueError:
        raise NotFound() from None


def default_questions(procedure: Procedure, gettext: Gettext) -> list[Question]:
    return [_from_default(question, gettext) for question in DEFAULT_QUESTIONS[procedure]]


def _from_default(question: DefaultQuestion, gettext: Gettext) -> Question:
    choices = question.choices or (yes_no_labels() if question.kind is QuestionKind.YES_NO else ())
    return Question(
        key=DEFAULT_PREFIX + question.name,
        kind=question.kind,
        label=gettext(question.label),
        help=gettext(question.help) if question.help else "",
        required=question.required,
        choices=tuple((value, gettext(label)) for value, label in choices),
        follows=(
            (DEFAULT_PREFIX + question.follows[0], question.follows[1])
            if question.follows
            else None
        ),
        required_error=gettext(question.required_error) if question.required_error else "",
    )


def from_row(row: Mapping[str, Any], language: str, gettext: Gettext) -> Question:
    kind = QuestionKind(row["kind"])
    if kind is QuestionKind.YES_NO:
        choices = tuple((value, gettext(label)) for value, label in yes_no_labels())
    else:
        choices = tuple(
            (value, localised(texts, language)) for value, texts in parse_choices(row["choices"])
        )
    return Question(
        key=str(row["id"]),
        kind=kind,
        label=localised(parse_texts(row["label"]), language),
        help=localised(parse_texts(row["help"]), language),
        required=bool(row["required"]),
        choices=choices,
        follows=(str(row["follows"]), row["follows_value"]) if row["follows"] else None,
    )


def in_form_order(questions: Iterable[Question]) -> list[Question]:
    """Each question followed directly by its follow-ups (recursively), otherwise in the given
    order; follow-ups of a question that is not there come last (they are never shown)."""
    listed = list(questions)
    keys = {question.key for question in listed}
    children: dict[str | None, list[Question]] = {}
    orphans = []
    for question in listed:
        parent = question.follows[0] if question.follows else None
        if parent is not None and parent not in keys:
            orphans.append(question)
        else:
            children.setdefault(parent, []).append(question)
    ordered: list[Question] = []
    seen: set[str] = set()

    def add(parent: str | None) -> None:
        for question in children.get(parent, []):
            if question.key not in seen:
                seen.add(question.key)
                ordered.append(question)
                add(question.key)

    add(None)
    for question in [*orphans, *listed]:  # orphans, then anything a loop kept out
        if question.key not in seen:
            seen.add(question.key)
            ordered.append(question)
    return ordered


async def question_rows(
    ctx: TenantContext, organisation_id: UUID, procedure: Procedure
) -> list[dict[str, Any]]:
    """The organisation's own questions for a procedure, by position. Inside a transaction."""
    require_transaction(ctx)
    query = scoped(IntakeQuestion.select(), IntakeQuestion, ctx).where(
        (IntakeQuestion.organisation == organisation_id)
        & (IntakeQuestion.procedure == procedure.value)
    )
    return await query.order_by(IntakeQuestion.position).order_by(IntakeQuestion.id)


async def questions_for(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    procedure: str,
    language: str,
    gettext: Gettext,
) -> list[Question]:
    """The questions of the organisation's form for `procedure`, in `language`: its own, else
    the built-in ones. Inside the caller's tenant transaction; another tenant's organisation
    (or an unknown procedure) is `NotFound`."""
    require_transaction(ctx)
    chosen = known_procedure(procedure)
    await access_organisation(ctx, organisation_id)
    rows = await question_rows(ctx, organisation_id, chosen)
    if not rows:
        return default_questions(chosen, gettext)
    return in_form_order(from_row(row, language, gettext) for row in rows)


def shown(questions: Iterable[Question], values: Mapping[str, str]) -> list[Question]:
    """The questions on screen: top-level ones, and follow-ups whose parent is on screen and
    got the answer they follow."""
    listed = list(questions)
    by_key = {question.key: question for question in listed}

    def visible(question: Question, depth: int) -> bool:
        if question.follows is None:
            return True
        parent = by_key.get(question.follows[0])
        if parent is None or depth > len(listed):  # a missing parent, or a loop
            return False
        return values.get(parent.field, "") == question.follows[1] and visible(parent, depth + 1)

    return [question for question in listed if visible(question, 0)]


# --- reading the answers ------------------------------------------------------------------


@dataclass(frozen=True)
class Answers:
    values: dict[str, str]
    errors: dict[str, str]
    newly_shown: tuple[str, ...]
    asked: list[dict[str, str]]

    @property
    def complete(self) -> bool:
        return not self.errors and not self.newly_shown


_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_DAY_FIRST = re.compile(r"(\d{1,2})([-/])(\d{1,2})\2(\d{4})")


def parse_date(text: str) -> date | None:
    """yyyy-mm-dd (what a date input sends), or d-m-yyyy and d/m/yyyy (typed by hand)."""
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = int(match[1]), int(match[2]), int(match[3])
    elif match := _DAY_FIRST.fullmatch(text):
        day, month, year = int(match[1]), int(match[3]), int(match[4])
    else:
        return None
    try:
        parsed = date(year, month, day)
    except ValueError:
        return None
    return parsed if year >= 1900 else None


def _clean(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip()


def _check(question: Question, value: str, today: date, gettext: Gettext) -> tuple[str, str]:
    """(error code, answer as display text) of one shown question."""
    if not value:
        return ("question_required" if question.required else ""), ""
    kind = question.kind
    if kind in (QuestionKind.CHOICE, QuestionKind.YES_NO):
        choices = question.choices
        if kind is QuestionKind.YES_NO and not choices:
            choices = tuple((code, gettext(label)) for code, label in yes_no_labels())
        label = dict(choices).get(value)
        return ("question_bad_choice", "") if label is None else ("", label)
    if kind is QuestionKind.DATE:
        parsed = parse_date(value)
        if parsed is None or parsed > today:
            return "question_bad_date", ""
        return "", parsed.isoformat()
    limit = MAX_LONG_TEXT if kind is QuestionKind.LONG_TEXT else MAX_TEXT
    return ("question_too_long", "") if len(value) > limit else ("", value)


def read_answers(
    questions: Iterable[Question],
    form: Mapping[str, Any],
    *,
    shown_before: Collection[str],
    gettext: Gettext,
    today: date | None = None,
) -> Answers:
    """Every field's value kept, the shown questions checked, the answered ones snapshotted
    (`asked`: what the counsellor reads, in the words the reporter saw)."""
    listed = list(questions)
    values = {question.field: _clean(form.get(question.field)) for question in listed}
    visible = shown(listed, values)
    before = set(shown_before)
    newly = tuple(q.field for q in visible if q.follows is not None and q.field not in before)
    today = today or datetime.now(_LOCAL).date()
    errors: dict[str, str] = {}
    asked: list[dict[str, str]] = []
    for question in visible:
        if question.field in newly:
            continue
        error, answer = _check(question, values[question.field], today, gettext)
        if error:
            errors[question.field] = error
        elif answer:
            asked.append(
                {
                    "key": question.key,
                    "label": question.label,
                    "kind": question.kind.value,
                    "answer": answer,
                }
            )
    return Answers(values=values, errors=errors, newly_shown=newly, asked=asked)

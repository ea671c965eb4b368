"""Configuring an organisation's intake questions: the staff side of `casework.questions`.

The bureau admin copies the built-in questions into the organisation's own rows (then adds,
deletes and reorders them) or goes back to the built-in ones; counsellors and organisation
contacts of the organisation read. Context first, keyword-only after; reads run inside the
caller's tenant transaction, the verbs open their own and write an audit event with ids and
codes only. The organisation is checked before anything else, so another tenant's ids are
`NotFound` exactly like missing ones; a refused change changes nothing.

`catalogs` maps each language to its gettext: built-in questions are stored in every
language (nl, en, fr) when copied, so a later language switch of the organisation finds them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from casework.choices import QuestionKind
from casework.default_questions import DEFAULT_QUESTIONS, yes_no_labels
from casework.questions import (
    DEFAULT_PREFIX,
    Gettext,
    Question,
    in_form_order,
    known_procedure,
    parse_choices,
    parse_texts,
    question_rows,
)
from casework.tables import IntakeQuestion
from klankbord import audit
from klankbord.errors import Invalid, NotFound, PermissionDenied
from klankbord.tenancy import (
    Scope,
    TenantContext,
    check_may_write,
    require_transaction,
    scoped,
    tenant_transaction,
)
from tenants.access import access_organisation
from tenants.choices import Procedure
from tenants.default_texts import LANGUAGES
from tenants.procedure_texts import language_codes, procedure_codes

Catalogs = Mapping[str, Gettext]

LABEL_LIMIT = 300
HELP_LIMIT = 1_000
CHOICE_LIMIT = 200
MAX_CHOICES = 20


@dataclass(frozen=True)
class Entry:
    """One question as the configuration page lists it (text in every language it has)."""

    id: UUID | None  # None: a built-in question
    key: str
    kind: str
    required: bool
    labels: dict[str, str]
    helps: dict[str, str]
    choices: list[tuple[str, dict[str, str]]]
    follows: str | None
    follows_value: str
    depth: int = 0
    followed: bool = False  # other questions follow it: it cannot be deleted
    first: bool = True  # among the questions at its level (no "move up")
    last: bool = True


@dataclass(frozen=True)
class QuestionList:
    organisation: dict[str, Any]
    procedure: Procedure
    own: bool
    languages: list[str]
    entries: list[Entry]


# --- reading ------------------------------------------------------------------------------


async def overview(
    ctx: TenantContext, organisation_id: UUID
) -> tuple[dict[str, Any], list[tuple[Procedure, int]]]:
    """The organisation and, per enabled procedure, how many questions of its own it has
    (0: the built-in ones apply). Inside the caller's tenant transaction."""
    require_transaction(ctx)
    organisation = await access_organisation(ctx, organisation_id)
    rows = await scoped(IntakeQuestion.select(IntakeQuestion.procedure), IntakeQuestion, ctx).where(
        IntakeQuestion.organisation == organisation_id
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["procedure"]] = counts.get(row["procedure"], 0) + 1
    enabled = procedure_codes(organisation["procedures"])
    return organisation, [(procedure, counts.get(procedure.value, 0)) for procedure in enabled]


async def _organisation_procedure(
    ctx: TenantContext, organisation_id: UUID, procedure: str
) -> tuple[dict[str, Any], Procedure]:
    organisation = await access_organisation(ctx, organisation_id)
    chosen = known_procedure(procedure)
    if chosen not in procedure_codes(organisation["procedures"]):
        raise NotFound()
    return organisation, chosen


def _default_entries(procedure: Procedure, catalogs: Catalogs) -> list[Entry]:
    def texts(message: str) -> dict[str, str]:
        return {language: catalogs[language](message) for language in LANGUAGES} if message else {}

    return [
        Entry(
            id=None,
            key=DEFAULT_PREFIX + question.name,
            kind=question.kind.value,
            required=question.required,
            labels=texts(question.label),
            helps=texts(question.help),
            choices=[(value, texts(label)) for value, label in question.choices],
            follows=DEFAULT_PREFIX + question.follows[0] if question.follows else None,
            follows_value=question.follows[1] if question.follows else "",
        )
        for question in DEFAULT_QUESTIONS[procedure]
    ]


def _row_entry(row: Mapping[str, Any]) -> Entry:
    return Entry(
        id=row["id"],
        key=str(row["id"]),
        kind=row["kind"],
        required=bool(row["required"]),
        labels=parse_texts(row["label"]),
        helps=parse_texts(row["help"]),
        choices=parse_choices(row["choices"]),
        follows=str(row["follows"]) if row["follows"] else None,
        follows_value=row["follows_value"],
    )


def _arranged(entries: list[Entry]) -> list[Entry]:
    """In form order, with depth, whether others follow it, and its place among siblings."""
    stubs = [
        Question(e.key, QuestionKind(e.kind), "", "", e.required, (), _follows(e)) for e in entries
    ]
    by_key = {entry.key: entry for entry in entries}
    ordered = [by_key[stub.key] for stub in in_form_order(stubs)]
    parents = {entry.follows for entry in entries if entry.follows}
    arranged = []
    for entry in ordered:
        siblings = [other.key for other in ordered if other.follows == entry.follows]
        depth, parent = 0, entry.follows
        while parent in by_key and depth < len(entries):
            depth, parent = depth + 1, by_key[parent].follows
        arranged.append(
            Entry(
                **{
                    **entry.__dict__,
                    "depth": depth,
                    "followed": entry.key in parents,
                    "first": siblings[0] == entry.key,
                    "last": siblings[-1] == entry.key,
                }
            )
        )
    return arranged


def _follows(entry: Entry) -> tuple[str, str] | None:
    return (entry.follows, entry.follows_value) if entry.follows else None


async def list_questions(
    ctx: TenantContext, *, organisation_id: UUID, procedure: str, catalogs: Catalogs
) -> QuestionList:
    """The questions of one enabled procedure: the organisation's own, else the built-in ones.
    Inside the caller's tenant transaction."""
    require_transaction(ctx)
    organisation, chosen = await _organisation_procedure(ctx, organisation_id, procedure)
    rows = await question_rows(ctx, organisation_id, chosen)
    entries = [_row_entry(row) for row in rows] if rows else _default_entries(chosen, catalogs)
    return QuestionList(
        organisation=organisation,
        procedure=chosen,
        own=bool(rows),
        languages=language_codes(organisation["languages"]),
        entries=_arranged(entries),
    )


# --- the form of a new question ------------------------------------------------------------


@dataclass(frozen=True)
class QuestionForm:
    """What the staff form sent. Text per language; `choices`: one answer per line, line n
    of each language being the same answer; `follows`: "<question id>:<answer value>"."""

    kind: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    helps: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[str, str] = field(default_factory=dict)
    required: bool = False
    follows: str = ""


def answer_values(row: Mapping[str, Any]) -> list[str]:
    """The answers another question can follow (choice and yes/no questions only)."""
    if row["kind"] == QuestionKind.YES_NO.value:
        return [value for value, _label in yes_no_labels()]
    if row["kind"] == QuestionKind.CHOICE.value:
        return [value for value, _texts in parse_choices(row["choices"])]
    return []


def _texts(form: QuestionForm, languages: list[str], errors: dict[str, str]) -> tuple[Any, Any]:
    labels, helps = {}, {}
    for language in languages:
        label = form.labels.get(language, "").strip()
        if not label:
            errors[f"label_{language}"] = "required"
        elif len(label) > LABEL_LIMIT:
            errors[f"label_{language}"] = "too_long"
        labels[language] = label
        text = form.helps.get(language, "").strip()
        if len(text) > HELP_LIMIT:
            errors[f"help_{language}"] = "too_long"
        if text:
            helps[language] = text
    return labels, helps


def _choices(
    form: QuestionForm, languages: list[str], errors: dict[str, str]
) -> list[dict[str, Any]]:
    lines = {
        language: [line.strip() for line in form.choices.get(language, "").splitlines()]
        for language in languages
    }
    lines = {language: [line for line in answers if line] for language, answers in lines.items()}
    for language, answers in lines.items():
        if len(answers) < 2:
            errors[f"choices_{language}"] = "too_few"
        elif len(answers) > MAX_CHOICES:
            errors[f"choices_{language}"] = "too_many"
        elif any(len(answer) > CHOICE_LIMIT for answer in answers):
            errors[f"choices_{language}"] = "too_long"
    if not languages or any(name.startswith("choices_") for name in errors):
        return []
    count = len(lines[languages[0]])
    for language in languages[1:]:
        if len(lines[language]) != count:
            errors[f"choices_{language}"] = "count_mismatch"
    if any(name.startswith("choices_") for name in errors):
        return []
    return [
        {
            "value": str(number + 1),
            "label": {language: lines[language][number] for language in languages},
        }
        for number in range(count)
    ]


def validate(
    form: QuestionForm, languages: list[str], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The column values of a new question, or `Invalid` with every field error at once."""
    errors: dict[str, str] = {}
    try:
        kind: QuestionKind | None = QuestionKind(form.kind)
    except ValueError:
        errors["kind"] = "unknown" if form.kind else "required"
        kind = None
    labels, helps = _texts(form, languages, errors)
    choices = _choices(form, languages, errors) if kind is QuestionKind.CHOICE else []
    follows, follows_value = None, ""
    if form.follows:
        parent_id, _, value = form.follows.partition(":")
        parent = next((row for row in rows if str(row["id"]) == parent_id), None)
        if parent is None or value not in answer_values(parent):
            errors["follows"] = "unknown"
        else:
            follows, follows_value = parent["id"], value
    if errors or kind is None:
        raise Invalid(fields=errors)
    return {
        "kind": kind.value,
        "label": json.dumps(labels),
        "help": json.dumps(helps),
        "choices": json.dumps(choices),
        "required": form.required,
        "follows": follows,
        "follows_value": follows_value,
    }


# --- changing -----------------------------------------------------------------------------


async def _writable(
    ctx: TenantContext, organisation_id: UUID, procedure: str
) -> tuple[dict[str, Any], Procedure, list[dict[str, Any]]]:
    organisation, chosen = await _organisation_procedure(ctx, organisation_id, procedure)
    if ctx.scope is not Scope.TENANT or not ctx.bureau_admin:
        raise PermissionDenied()
    check_may_write(ctx, bureau_id=organisation["bureau"], organisation_id=organisation_id)
    return organisation, chosen, await question_rows(ctx, organisation_id, chosen)


async def _record(
    ctx: TenantContext,
    organisation: Mapping[str, Any],
    action: str,
    subject_id: UUID | str = "",
    **detail: Any,
) -> None:
    await audit.record(
        ctx,
        action=action,
        bureau_id=organisation["bureau"],
        organisation_id=organisation["id"],
        subject_type="intake_question",
        subject_id=subject_id,
        detail=detail,
    )


def _row(
    organisation: Mapping[str, Any], procedure: Procedure, position: int, **values: Any
) -> IntakeQuestion:
    return IntakeQuestion(
        organisation=organisation["id"],
        bureau=organisation["bureau"],
        procedure=procedure.value,
        position=position,
        **values,
    )


async def _copy_defaults(
    organisation: Mapping[str, Any], procedure: Procedure, catalogs: Catalogs
) -> list[dict[str, Any]]:
    ids: dict[str, UUID] = {}
    rows = []
    for position, entry in enumerate(_default_entries(procedure, catalogs)):
        ids[entry.key] = uuid4()
        rows.append(
            _row(
                organisation,
                procedure,
                position,
                id=ids[entry.key],
                kind=entry.kind,
                label=json.dumps(entry.labels),
                help=json.dumps(entry.helps),
                choices=json.dumps([{"value": v, "label": t} for v, t in entry.choices]),
                required=entry.required,
                follows=ids[entry.follows] if entry.follows else None,
                follows_value=entry.follows_value,
            )
        )
    await IntakeQuestion.insert(*rows)
    return [row.to_dict() for row in rows]


async def customise(
    ctx: TenantContext, *, organisation_id: UUID, procedure: str, catalogs: Catalogs
) -> int:
    """Copy the built-in questions into the organisation's own (every language), so they can
    be changed. Returns how many were copied."""
    async with tenant_transaction(ctx):
        organisation, chosen, rows = await _writable(ctx, organisation_id, procedure)
        if rows:
            raise Invalid(fields={"form": "already_own"})
        copied = await _copy_defaults(organisation, chosen, catalogs)
        await _record(
            ctx,
            organisation,
            "intake_questions.customised",
            procedure=chosen.value,
            count=len(copied),
        )
        return len(copied)


async def add_question(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    procedure: str,
    form: QuestionForm,
    catalogs: Catalogs,
) -> UUID:
    """Add a question at the end (the built-in ones are copied first if there are none of
    its own yet). `Invalid` with field errors, and nothing stored, when the form is wrong."""
    async with tenant_transaction(ctx):
        organisation, chosen, rows = await _writable(ctx, organisation_id, procedure)
        values = validate(form, language_codes(organisation["languages"]), rows)
        if not rows:
            rows = await _copy_defaults(organisation, chosen, catalogs)
        question_id = uuid4()
        position = max(row["position"] for row in rows) + 1 if rows else 0
        await IntakeQuestion.insert(_row(organisation, chosen, position, id=question_id, **values))
        await _record(
            ctx,
            organisation,
            "intake_question.added",
            question_id,
            procedure=chosen.value,
            kind=values["kind"],
        )
        return question_id


def _find(rows: list[dict[str, Any]], question_id: UUID) -> dict[str, Any]:
    for row in rows:
        if str(row["id"]) == str(question_id):
            return row
    raise NotFound()


async def delete_question(
    ctx: TenantContext, *, organisation_id: UUID, procedure: str, question_id: UUID
) -> None:
    """Delete one of the organisation's questions. Refused (field "form") for a question
    that others follow, and for the last one (going back to the built-in questions is
    `reset_questions`)."""
    async with tenant_transaction(ctx):
        organisation, chosen, rows = await _writable(ctx, organisation_id, procedure)
        row = _find(rows, question_id)
        if any(str(other["follows"]) == str(question_id) for other in rows):
            raise Invalid(fields={"form": "has_follow_ups"})
        if len(rows) == 1:
            raise Invalid(fields={"form": "last_question"})
        await scoped(IntakeQuestion.delete(), IntakeQuestion, ctx).where(
            IntakeQuestion.id == row["id"]
        )
        await _record(
            ctx, organisation, "intake_question.deleted", question_id, procedure=chosen.value
        )


async def move_question(
    ctx: TenantContext,
    *,
    organisation_id: UUID,
    procedure: str,
    question_id: UUID,
    direction: str,
) -> bool:
    """Move a question one place up or down among the questions at its level (a follow-up
    among the follow-ups of the same question). False: it was already first or last."""
    async with tenant_transaction(ctx):
        organisation, chosen, rows = await _writable(ctx, organisation_id, procedure)
        row = _find(rows, question_id)
        if direction not in ("up", "down"):
            raise Invalid(fields={"direction": "unknown"})
        siblings = [other for other in rows if other["follows"] == row["follows"]]
        index = siblings.index(row) + (-1 if direction == "up" else 1)
        if not 0 <= index < len(siblings):
            return False
        ordered = list(rows)
        a, b = ordered.index(row), ordered.index(siblings[index])
        ordered[a], ordered[b] = ordered[b], ordered[a]
        for position, other in enumerate(ordered):
            if other["position"] != position:
                await scoped(
                    IntakeQuestion.update({IntakeQuestion.position: position}), IntakeQuestion, ctx
                ).where(IntakeQuestion.id == other["id"])
        await _record(
            ctx,
            organisation,
            "intake_question.moved",
            question_id,
            procedure=chosen.value,
            direction=direction,
        )
        return True


async def reset_questions(ctx: TenantContext, *, organisation_id: UUID, procedure: str) -> int:
    """Delete the organisation's own questions for a procedure: the built-in ones apply again.
    Returns how many were deleted."""
    async with tenant_transaction(ctx):
        organisation, chosen, rows = await _writable(ctx, organisation_id, procedure)
        if not rows:
            return 0
        await scoped(IntakeQuestion.delete(), IntakeQuestion, ctx).where(
            (IntakeQuestion.organisation == organisation_id)
            & (IntakeQuestion.procedure == chosen.value)
        )
        await _record(
            ctx, organisation, "intake_questions.reset", procedure=chosen.value, count=len(rows)
        )
        return len(rows)

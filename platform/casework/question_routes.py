"""Pages for an organisation's intake questions: which procedures use the built-in questions
and which their own, the list per procedure with a preview of the reporter's form, and the
bureau admin's changes (copy the built-in ones, add, delete, move, back to built-in).

Thin: parse → one service call → render or redirect. Every handler checks access to the
organisation first, so another tenant's ids answer 404 exactly like missing ones, whatever
the rest of the address or the form holds; counsellors and organisation contacts read, a
change by them is 403.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from casework import question_admin
from casework.choices import QuestionKind
from casework.default_questions import yes_no_labels
from casework.question_admin import (
    CHOICE_LIMIT,
    HELP_LIMIT,
    LABEL_LIMIT,
    MAX_CHOICES,
    Catalogs,
    Entry,
    QuestionForm,
    QuestionList,
)
from casework.questions import Gettext, localised, questions_for, shown
from klankbord import i18n
from klankbord.app_state import app_settings
from klankbord.auth import STAFF_ROLES, current_context, requires
from klankbord.errors import Invalid, PermissionDenied
from klankbord.forms import form_text, see_other
from klankbord.templating import page, request_language
from klankbord.tenancy import Role, TenantContext, tenant_transaction
from tenants import access
from tenants.default_texts import LANGUAGES

NOTICES = ("customised", "added", "deleted", "moved", "reset")


def catalogs(request: Request[Any, Any, Any]) -> Catalogs:
    """Plain-text gettext per language (the built-in questions in every language)."""
    locales = Path(app_settings(request).frontend_dir / "locales")
    return {
        language: i18n.gettext_callables(i18n.translations(locales, language), autoescape=False)[
            "gettext"
        ]
        for language in LANGUAGES
    }


async def _check_access(ctx: TenantContext, organisation_id: UUID) -> None:
    async with tenant_transaction(ctx):
        await access.access_organisation(ctx, organisation_id)


async def _check_admin(ctx: TenantContext, organisation_id: UUID) -> None:
    await _check_access(ctx, organisation_id)
    if not ctx.bureau_admin:
        raise PermissionDenied()


def _base(organisation_id: UUID, procedure: str) -> str:
    return f"/organisations/{organisation_id}/questions/{procedure}"


def _read_form(data: FormMultiDict) -> QuestionForm:
    def per_language(prefix: str, limit: int) -> dict[str, str]:
        # Cut well past the limits: a too-long text comes back intact with its error.
        return {language: form_text(data, f"{prefix}_{language}", limit) for language in LANGUAGES}

    return QuestionForm(
        kind=form_text(data, "kind", 40),
        labels=per_language("label", 10 * LABEL_LIMIT),
        helps=per_language("help", 10 * HELP_LIMIT),
        choices=per_language("choices", 2 * MAX_CHOICES * CHOICE_LIMIT),
        required=form_text(data, "required", 10) == "yes",
        follows=form_text(data, "follows", 200),
    )


def _typed(form: QuestionForm | None) -> dict[str, Any]:
    """The add form's values for the template (empty, or as sent after an error)."""
    form = form or QuestionForm()
    typed: dict[str, Any] = {"kind": form.kind, "required": form.required, "follows": form.follows}
    for language in LANGUAGES:
        typed[f"label_{language}"] = form.labels.get(language, "")
        typed[f"help_{language}"] = form.helps.get(language, "")
        typed[f"choices_{language}"] = form.choices.get(language, "")
    return typed


def _answers(entry: Entry, language: str, gettext: Gettext) -> list[tuple[str, str]]:
    if entry.kind == QuestionKind.YES_NO:
        return [(value, gettext(label)) for value, label in yes_no_labels()]
    return [(value, localised(texts, language)) for value, texts in entry.choices]


def _entry(
    entry: Entry, by_key: Mapping[str, Entry], language: str, gettext: Gettext
) -> dict[str, Any]:
    parent = by_key.get(entry.follows) if entry.follows else None
    answers = dict(_answers(parent, language, gettext)) if parent else {}
    return {
        **entry.__dict__,
        "id": str(entry.id) if entry.id else "",
        "label": localised(entry.labels, language),
        "choices": [
            {"value": value, "label": localised(texts, language)} for value, texts in entry.choices
        ],
        "follows_label": localised(parent.labels, language) if parent else "",
        "follows_answer": answers.get(entry.follows_value, entry.follows_value),
    }


def _follow_options(listed: QuestionList, language: str, gettext: Gettext) -> list[dict[str, str]]:
    """Every (question, answer) a new question can follow: answers of the organisation's own
    choice and yes/no questions."""
    return [
        {
            "value": f"{entry.id}:{value}",
            "question": localised(entry.labels, language),
            "answer": answer,
        }
        for entry in listed.entries
        if entry.id is not None
        for value, answer in _answers(entry, language, gettext)
    ]


async def _list_page(
    request: Request[Any, Any, Any],
    organisation_id: UUID,
    procedure: str,
    *,
    notice: str = "",
    form: QuestionForm | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    ctx = current_context(request)
    language = request_language(request)
    languages = catalogs(request)
    gettext = languages[language]
    async with tenant_transaction(ctx):
        listed = await question_admin.list_questions(
            ctx, organisation_id=organisation_id, procedure=procedure, catalogs=languages
        )
        preview = await questions_for(
            ctx,
            organisation_id=organisation_id,
            procedure=procedure,
            language=language,
            gettext=gettext,
        )
    by_key = {entry.key: entry for entry in listed.entries}
    return page(
        request,
        "questions/list.html",
        status_code=status_code,
        organisation=listed.organisation,
        procedure=listed.procedure.value,
        own=listed.own,
        languages=listed.languages,
        entries=[_entry(entry, by_key, language, gettext) for entry in listed.entries],
        preview=shown(preview, {}),
        follow_options=_follow_options(listed, language, gettext),
        kinds=[kind.value for kind in QuestionKind],
        is_admin=ctx.bureau_admin,
        notice=notice if notice in NOTICES else "",
        form=_typed(form),
        errors=errors or {},
    )


# Changes are the bureau admin's: other staff are refused by the guard, before any id is read.
ADMIN = [requires(Role.BUREAU_ADMIN)]


class QuestionPages(Controller):
    path = "/organisations/{organisation_id:uuid}/questions"
    guards = [requires(*STAFF_ROLES)]
    include_in_schema = False

    @get("/", name="organisation_questions")
    async def overview(
        self, request: Request[Any, Any, Any], organisation_id: FromPath[UUID]
    ) -> Template:
        ctx = current_context(request)
        async with tenant_transaction(ctx):
            organisation, procedures = await question_admin.overview(ctx, organisation_id)
        return page(
            request,
            "questions/organisation.html",
            organisation=organisation,
            procedures=[{"code": code.value, "own": count} for code, count in procedures],
        )

    @get("/{procedure:str}", name="organisation_procedure_questions")
    async def questions(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        procedure: FromPath[str],
        done: FromQuery[str] = "",
    ) -> Template:
        await _check_access(current_context(request), organisation_id)
        return await _list_page(request, organisation_id, procedure, notice=done)

    @post("/{procedure:str}/customise", name="organisation_questions_customise", guards=ADMIN)
    async def customise(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        procedure: FromPath[str],
    ) -> Response[Any]:
        ctx = current_context(request)
        await _check_admin(ctx, organisation_id)
        try:
            await question_admin.customise(
                ctx,
                organisation_id=organisation_id,
                procedure=procedure,
                catalogs=catalogs(request),
            )
        except Invalid as exc:
            return await _list_page(
                request, organisation_id, procedure, errors=exc.fields, status_code=400
            )
        return see_other(f"{_base(organisation_id, procedure)}?done=customised")

    @post("/{procedure:str}/add", name="organisation_questions_add", guards=ADMIN)
    async def add(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        procedure: FromPath[str],
    ) -> Response[Any]:
        ctx = current_context(request)
        await _check_admin(ctx, organisation_id)
        form = _read_form(await request.form())
        try:
            await question_admin.add_question(
                ctx,
                organisation_id=organisation_id,
                procedure=procedure,
                form=form,
                catalogs=catalogs(request),
            )
        except Invalid as exc:
            return await _list_page(
                request, organisation_id, procedure, form=form, errors=exc.fields, status_code=400
            )
        return see_other(f"{_base(organisation_id, procedure)}?done=added")

    @post(
        "/{procedure:str}/{question_id:uuid}/delete",
        name="organisation_questions_delete",
        guards=ADMIN,
    )
    async def delete(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        procedure: FromPath[str],
        question_id: FromPath[UUID],
    ) -> Response[Any]:
        ctx = current_context(request)
        await _check_admin(ctx, organisation_id)
        try:
            await question_admin.delete_question(
                ctx, organisation_id=organisation_id, procedure=procedure, question_id=question_id
            )
        except Invalid as exc:
            return await _list_page(
                request, organisation_id, procedure, errors=exc.fields, status_code=400
            )
        return see_other(f"{_base(organisation_id, procedure)}?done=deleted")

    @post(
        "/{procedure:str}/{question_id:uuid}/move", name="organisation_questions_move", guards=ADMIN
    )
    async def move(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        procedure: FromPath[str],
        question_id: FromPath[UUID],
    ) -> Response[Any]:
        ctx = current_context(request)
        await _check_admin(ctx, organisation_id)
        direction = form_text(await request.form(), "direction", 10)
        try:
            await question_admin.move_question(
                ctx,
                organisation_id=organisation_id,
                procedure=procedure,
                question_id=question_id,
                direction=direction,
            )
        except Invalid as exc:
            return await _list_page(
                request, organisation_id, procedure, errors=exc.fields, status_code=400
            )
        return see_other(f"{_base(organisation_id, procedure)}?done=moved#question-{question_id}")

    @post("/{procedure:str}/reset", name="organisation_questions_reset", guards=ADMIN)
    async def reset(
        self,
        request: Request[Any, Any, Any],
        organisation_id: FromPath[UUID],
        procedure: FromPath[str],
    ) -> Response[Any]:
        ctx = current_context(request)
        await _check_admin(ctx, organisation_id)
        await question_admin.reset_questions(
            ctx, organisation_id=organisation_id, procedure=procedure
        )
        return see_other(f"{_base(organisation_id, procedure)}?done=reset")


ROUTES: list[Any] = [QuestionPages]

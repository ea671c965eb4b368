"""The reporter's intake pages under `/r/{token}`: start, the report form, the receipt code.

`POST /r/{token}/report` reads the multipart body as a stream (`klankbord.uploads`): files go
straight into encrypted blobs (`casework.attachments.Stager`), never to disk in clear. When
anything is wrong (a required answer, a file refused, a stale form) every blob written so far
is removed and the form comes back with every typed word and the errors inline; when the
database refuses the case, the blobs are removed too. A success shows the receipt code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from casework import attachments, intake, questions
from casework.choices import Anonymity, MeetingRequest
from casework.form_tokens import new_form_token, read_form_token
from casework.reporter_pages import (
    LinkNotLive,
    check_origin,
    live_link,
    new_stager,
    not_live_page,
    read_multipart,
    reporter_page,
    typed_text,
)
from klankbord import i18n
from klankbord.app_state import app_settings, secret_box
from klankbord.errors import Invalid
from klankbord.templating import request_language
from klankbord.tenancy import tenant_transaction
from tenants import logos
from tenants.intake_links import ReporterLink

IDENTITY_LIMITS = {"name": 200, "phone": 40, "email": 254}
MEETINGS = [choice.value for choice in MeetingRequest if choice.value]


def _gettext(request: Request[Any, Any, Any], language: str) -> Any:
    catalog = i18n.translations(app_settings(request).frontend_dir / "locales", language)
    return i18n.gettext_callables(catalog, autoescape=False)["gettext"]


async def _questions(
    request: Request[Any, Any, Any], link: ReporterLink, language: str
) -> list[questions.Question]:
    ctx = link.context()
    async with tenant_transaction(ctx):
        return await questions.questions_for(
            ctx,
            organisation_id=link.organisation,
            procedure=link.procedure,
            language=language,
            gettext=_gettext(request, language),
        )


@get("/r/{token:str}", name="reporter_intake", include_in_schema=False)
async def start(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """The address on a poster: who reads a report, what happens, and the way in."""
    link = await live_link(token)
    language = request_language(request)
    view = await intake.intake_view(link, language=language)
    return reporter_page(request, "reporter/intake.html", link=link, view=view)


async def _form_page(
    request: Request[Any, Any, Any],
    link: ReporterLink,
    *,
    values: Mapping[str, Any],
    errors: Mapping[str, str],
    form_token: str,
    answers_values: Mapping[str, str] | None = None,
    status_code: int = 200,
    newly_shown: bool = False,
) -> Template:
    language = request_language(request)
    settings = app_settings(request)
    all_questions = await _questions(request, link, language)
    view = await intake.intake_view(link, language=language)
    answered = dict(answers_values or {})
    return reporter_page(
        request,
        "reporter/report_form.html",
        status_code=status_code,
        link=link,
        view=view,
        questions=questions.shown(all_questions, answered),
        answers=answered,
        values=values,
        errors=errors,
        form_token=form_token,
        newly_shown=newly_shown,
        meetings=MEETINGS,
        attachment_max_mb=settings.attachment_max_mb,
        report_max_mb=settings.report_max_mb,
    )


@get("/r/{token:str}/report", name="reporter_report_form", include_in_schema=False)
async def report_form(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    link = await live_link(token)
    assert link.link_id is not None
    return await _form_page(
        request,
        link,
        values={},
        errors={},
        form_token=new_form_token(secret_box(request), link.link_id),
    )


def _first(fields: Mapping[str, list[str]]) -> dict[str, str]:
    return {name: values[0] for name, values in fields.items() if values}


def _choice_errors(
    form: Mapping[str, str], link: ReporterLink, view: intake.IntakeView
) -> tuple[dict[str, str], Anonymity | None, UUID | None, MeetingRequest]:
    errors: dict[str, str] = {}
    choices = view.anonymity_choices
    anonymity: Anonymity | None = choices[0] if len(choices) == 1 else None
    if len(choices) > 1:
        try:
            anonymity = Anonymity(form.get("anonymity", ""))
        except ValueError:
            errors["anonymity"] = "anonymity_required"
    counsellor: UUID | None = None
    if form.get("counsellor"):
        try:
            counsellor = UUID(form["counsellor"])
        except ValueError:
            errors["counsellor"] = "counsellor_unknown"
        else:
            if counsellor not in {item.id for item in view.counsellors}:
                errors["counsellor"] = "counsellor_unknown"
    try:
        meeting = MeetingRequest(form.get("meeting", ""))
    except ValueError:
        errors["meeting"] = "meeting_unknown"
        meeting = MeetingRequest.NONE
    if anonymity is Anonymity.CONFIDENTIAL and not form.get("name", "").strip():
        errors["name"] = "name_required"
    for name, limit in IDENTITY_LIMITS.items():
        if len(form.get(name, "")) > limit:
            errors[name] = "too_long"
    if form.get("alert") == "yes":
        address = form.get("alert_address", "").strip()
        if not address or "@" not in address or len(address) > 254 or " " in address:
            errors["alert_address"] = "alert_address_invalid"
    return errors, anonymity, counsellor, meeting


@post(
    "/r/{token:str}/report",
    name="reporter_report_submit",
    include_in_schema=False,
    request_max_body_size=None,
)
async def submit_report(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    try:
        link = await live_link(token)
    except LinkNotLive as gone:  # switched off or moved while the reporter was typing
        kept = await typed_text(request, app_settings(request))
        return not_live_page(request, gone.link, kept=kept)
    assert link.link_id is not None and link.organisation_id is not None
    check_origin(request)
    settings, box = app_settings(request), secret_box(request)
    language = request_language(request)
    stager = await new_stager(settings, link)
    try:
        fields = await read_multipart(request, settings, stager.open_file)
    except BaseException:
        await stager.discard()
        raise
    form = _first(fields)
    view = await intake.intake_view(link, language=language)
    all_questions = await _questions(request, link, language)
    answers = questions.read_answers(
        all_questions,
        form,
        shown_before=fields.get("shown", []),
        gettext=_gettext(request, language),
    )
    errors, anonymity, counsellor, meeting = _choice_errors(form, link, view)
    errors.update(answers.errors)
    errors.update(stager.errors)
    parsed, fresh = read_form_token(box, link.link_id, form.get("form_token", ""))
    form_token = form.get("form_token", "")
    if parsed is None or not fresh:
        errors["form"] = "form_expired"
        form_token = new_form_token(box, link.link_id)
    ready: list[attachments.ReadyFile] = []
    if not errors and answers.complete:
        ready = await attachments.finish(stager, keep_originals=form.get("keep_originals") == "yes")
        errors.update(stager.errors)
    if errors or not answers.complete or parsed is None or anonymity is None:
        await stager.discard()
        return await _form_page(
            request,
            link,
            values=form,
            errors=errors,
            form_token=form_token,
            answers_values=answers.values,
            status_code=422 if errors else 200,
            newly_shown=bool(answers.newly_shown) and not errors,
        )
    submission = intake.Submission(
        link=link,
        submission=parsed.submission,
        language=language,
        anonymity=anonymity,
        asked=answers.asked,
        counsellor_id=counsellor,
        meeting=meeting,
        identity={name: form.get(name, "").strip() for name in IDENTITY_LIMITS},
        alert_address=form.get("alert_address", "").strip() if form.get("alert") == "yes" else None,
        files=ready,
    )
    try:
        receipt = await intake.submit(settings, box, submission)
    except BaseException:
        await stager.discard()
        raise
    if receipt.repeated:
        await stager.discard()  # the first request's case has its own files
    return _receipt_page(request, link, receipt, form_token=form_token)


def _receipt_page(
    request: Request[Any, Any, Any],
    link: ReporterLink,
    receipt: intake.Receipt,
    *,
    form_token: str,
    error: str = "",
    template: str = "reporter/receipt.html",
) -> Template:
    return reporter_page(
        request,
        template,
        status_code=422 if error else 200,
        link=link,
        code=receipt.code,
        form_token=form_token,
        error=error,
    )


async def _pending(request: Request[Any, Any, Any], link: ReporterLink) -> tuple[Any, str]:
    check_origin(request)
    form = await request.form()
    value = form.get("form_token", "")
    form_token = value if isinstance(value, str) else ""
    assert link.link_id is not None
    parsed, _fresh = read_form_token(secret_box(request), link.link_id, form_token)
    if parsed is None:
        raise Invalid(code="form_expired")
    receipt = await intake.receipt_for(secret_box(request), link, parsed.submission)
    if receipt is None:
        raise Invalid(code="form_expired")
    return receipt, form_token


@post("/r/{token:str}/receipt", name="reporter_receipt_saved", include_in_schema=False)
async def receipt_saved(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """The explicit "I have saved my code" step: after it, the code is not shown again."""
    link = await live_link(token)
    receipt, form_token = await _pending(request, link)
    form = await request.form()
    if receipt.code is not None and form.get("saved") != "yes":
        return _receipt_page(request, link, receipt, form_token=form_token, error="saved_required")
    parsed, _fresh = read_form_token(secret_box(request), link.link_id or UUID(int=0), form_token)
    assert parsed is not None
    await intake.confirm_saved(secret_box(request), link, parsed.submission)
    return reporter_page(request, "reporter/received.html", link=link)


@post("/r/{token:str}/receipt/print", name="reporter_receipt_print", include_in_schema=False)
async def receipt_print(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    """The code on a page of its own, laid out for paper (while it is still pending)."""
    link = await live_link(token)
    receipt, form_token = await _pending(request, link)
    return _receipt_page(
        request, link, receipt, form_token=form_token, template="reporter/receipt_print.html"
    )


@get("/r/{token:str}/logo", name="reporter_logo", include_in_schema=False)
async def logo(token: FromPath[str]) -> Response[bytes]:
    """The organisation's logo, from our own origin (no third-party asset)."""
    found = await logos.reporter_logo(await live_link(token))
    return Response(found.data, media_type=found.media_type)


ROUTES: list[Any] = [start, report_form, submit_report, receipt_saved, receipt_print, logo]

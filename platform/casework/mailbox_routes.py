"""The reporter's mailbox pages under `/r/{token}/mailbox`.

The only cookie a reporter ever gets is set here, after a good receipt code: a session cookie
(no expiry date), HttpOnly, SameSite=Strict, limited to this link's mailbox path. Every form
of an open mailbox carries a token bound to the session (`form_tokens.mailbox_token`), and a
POST from another site's page is refused by its `Origin`. Files are downloaded through the
app, decrypted on the fly, always as attachments.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
from uuid import UUID

from litestar import Request, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Stream, Template
from litestar.response.base import ASGIResponse

from casework import attachments, consent, mailbox
from casework.form_tokens import check_mailbox_token, mailbox_token
from casework.reporter_pages import (
    check_origin,
    live_link,
    new_stager,
    read_multipart,
    reporter_page,
)
from klankbord.app_state import app_settings, secret_box
from klankbord.errors import Invalid, PermissionDenied
from klankbord.storage import blob_store
from klankbord.templating import request_language
from tenants.intake_links import ReporterLink

COOKIE = "klankbord_mailbox"
NOTICES = frozenset({"sent", "alert_on", "alert_off", "answered"})


class FileStream(Stream):
    """A stream with its own media type (Litestar's `Stream` lets the handler's win)."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["media_type"] = None
        return super().to_asgi_response(*args, **kwargs)


def _path(token: str) -> str:
    return f"/r/{token}/mailbox"


def _back(token: str, language: str, notice: str = "") -> Redirect:
    query = f"?lang={language}" + (f"&done={notice}" if notice else "")
    return Redirect(path=_path(token) + query, status_code=303)


async def _session(request: Request[Any, Any, Any], link: ReporterLink) -> mailbox.Session | None:
    return await mailbox.open_session(secret_box(request), link, request.cookies.get(COOKIE))


def _sign_in_page(
    request: Request[Any, Any, Any],
    link: ReporterLink,
    *,
    error: str = "",
    retry_minutes: int = 0,
    status_code: int = 200,
) -> Template:
    return reporter_page(
        request,
        "reporter/mailbox_sign_in.html",
        status_code=status_code,
        link=link,
        error=error,
        retry_minutes=retry_minutes,
    )


async def _mailbox_page(
    request: Request[Any, Any, Any],
    session: mailbox.Session,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> Template:
    view = await mailbox.mailbox_view(session)
    settings = app_settings(request)
    return reporter_page(
        request,
        "reporter/mailbox.html",
        status_code=422 if errors else 200,
        link=session.link,
        view=view,
        form_token=mailbox_token(secret_box(request), session.token_hash),
        values=values or {},
        errors=errors or {},
        notice=notice if notice in NOTICES else "",
        attachment_max_mb=settings.attachment_max_mb,
    )


@get("/r/{token:str}/mailbox", name="reporter_mailbox", include_in_schema=False)
async def mailbox_page(
    request: Request[Any, Any, Any], token: FromPath[str], done: FromQuery[str] = ""
) -> Template:
    link = await live_link(token)
    session = await _session(request, link)
    if session is None:
        return _sign_in_page(request, link)
    return await _mailbox_page(request, session, notice=done)


@post("/r/{token:str}/mailbox/sign-in", name="reporter_mailbox_sign_in", include_in_schema=False)
async def sign_in(request: Request[Any, Any, Any], token: FromPath[str]) -> Any:
    link = await live_link(token)
    check_origin(request)
    form = await request.form()
    typed = form.get("code", "")
    try:
        session_token = await mailbox.sign_in(
            secret_box(request), link, typed if isinstance(typed, str) else ""
        )
    except mailbox.TooManyAttempts as refused:
        minutes = max(1, -(-refused.retry_after // 60))
        return _sign_in_page(
            request, link, error="too_many", retry_minutes=minutes, status_code=429
        )
    except mailbox.WrongCode:
        return _sign_in_page(request, link, error="wrong_code", status_code=422)
    response = _back(token, request_language(request))
    response.cookies.append(
        Cookie(
            key=COOKIE,
            value=session_token,
            path=_path(token),
            httponly=True,
            secure=app_settings(request).cookies_secure,
            samesite="strict",
        )
    )
    return response


def _check_token(request: Request[Any, Any, Any], session: mailbox.Session, sent: Any) -> None:
    check_origin(request)
    if not check_mailbox_token(
        secret_box(request), session.token_hash, sent if isinstance(sent, str) else ""
    ):
        raise PermissionDenied(code="form_expired")


@post(
    "/r/{token:str}/mailbox/messages",
    name="reporter_mailbox_message",
    include_in_schema=False,
    request_max_body_size=None,
)
async def send_message(request: Request[Any, Any, Any], token: FromPath[str]) -> Any:
    link = await live_link(token)
    session = await _session(request, link)
    if session is None:
        return _sign_in_page(request, link, error="signed_out", status_code=401)
    settings = app_settings(request)
    stager = await new_stager(settings, link)
    try:
        fields = await read_multipart(request, settings, stager.open_file)
        form = {name: values[0] for name, values in fields.items() if values}
        _check_token(request, session, form.get("form_token"))
        errors = dict(stager.errors)
        body = form.get("body", "")
        try:
            mailbox.check_message(body)
        except Invalid as invalid:
            errors.update(invalid.fields)
        ready: list[attachments.ReadyFile] = []
        if not errors:
            ready = await attachments.finish(
                stager, keep_originals=form.get("keep_originals") == "yes"
            )
            errors.update(stager.errors)
        if errors:
            await stager.discard()
            return await _mailbox_page(request, session, values=form, errors=errors)
        await mailbox.post_message(settings, session, body, ready)
    except BaseException:
        await stager.discard()
        raise
    return _back(token, request_language(request), "sent")


@post("/r/{token:str}/mailbox/alert", name="reporter_mailbox_alert", include_in_schema=False)
async def set_alert(request: Request[Any, Any, Any], token: FromPath[str]) -> Any:
    link = await live_link(token)
    session = await _session(request, link)
    if session is None:
        return _sign_in_page(request, link, error="signed_out", status_code=401)
    form = await request.form()
    _check_token(request, session, form.get("form_token"))
    wanted = form.get("alert") == "yes"
    address = form.get("alert_address", "")
    try:
        await mailbox.set_alert(
            session, on=wanted, address=address if isinstance(address, str) else ""
        )
    except Invalid as invalid:
        values = {"alert": "yes", "alert_address": address if isinstance(address, str) else ""}
        return await _mailbox_page(request, session, values=values, errors=invalid.fields)
    return _back(token, request_language(request), "alert_on" if wanted else "alert_off")


@post(
    "/r/{token:str}/mailbox/consent/{consent_id:uuid}",
    name="reporter_mailbox_consent",
    include_in_schema=False,
)
async def answer_consent(
    request: Request[Any, Any, Any], token: FromPath[str], consent_id: FromPath[UUID]
) -> Any:
    """The reporter's yes or no to a step the counsellor asked about."""
    link = await live_link(token)
    session = await _session(request, link)
    if session is None:
        return _sign_in_page(request, link, error="signed_out", status_code=401)
    form = await request.form()
    _check_token(request, session, form.get("form_token"))
    answer = form.get("answer")
    if answer not in ("yes", "no"):
        return await _mailbox_page(request, session, errors={"answer": "answer_required"})
    await consent.answer(
        app_settings(request), session.ctx, consent_id=consent_id, yes=answer == "yes"
    )
    return _back(token, request_language(request), "answered")


@post("/r/{token:str}/mailbox/sign-out", name="reporter_mailbox_sign_out", include_in_schema=False)
async def sign_out(request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
    link = await live_link(token)
    session = await _session(request, link)
    if session is not None:
        form = await request.form()
        _check_token(request, session, form.get("form_token"))
        await mailbox.sign_out(session)
    response = reporter_page(request, "reporter/mailbox_signed_out.html", link=link)
    response.cookies.append(
        Cookie(key=COOKIE, value="", path=_path(token), max_age=0, httponly=True, samesite="strict")
    )
    return response


@get(
    "/r/{token:str}/mailbox/files/{attachment_id:uuid}",
    name="reporter_mailbox_file",
    include_in_schema=False,
)
async def download(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    attachment_id: FromPath[UUID],
    original: FromQuery[bool] = False,
) -> Any:
    link = await live_link(token)
    session = await _session(request, link)
    if session is None:
        return _sign_in_page(request, link, error="signed_out", status_code=401)
    item = await attachments.open_download(
        session.ctx,
        blob_store(app_settings(request)),
        case_id=session.case_id,
        attachment_id=attachment_id,
        original=original,
    )
    # Litestar adds "; charset=utf-8" to text/* types itself: text files are stored as UTF-8.
    return FileStream(
        item.chunks,
        media_type=item.media_type.split(";")[0],
        headers=download_headers(item),
    )


def download_headers(item: attachments.Download) -> dict[str, str]:
    """Always a download, never shown in our origin; the name as RFC 5987 `filename*`."""
    headers = {"content-disposition": f"attachment; filename*=UTF-8''{quote(item.name, safe='')}"}
    if item.size is not None:
        headers["content-length"] = str(item.size)
    return headers


ROUTES: list[Any] = [
    mailbox_page,
    sign_in,
    send_message,
    set_alert,
    answer_consent,
    sign_out,
    download,
]

"""Template rendering cases for the reporter's pages and the counsellor's case pages
(collected by tests/klankbord/test_templates.py). Data travels in namespaces, so that the
literal-text check can tell data from template text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import UUID

from markupsafe import Markup

from casework.choices import Anonymity
from casework.workflows import WORKFLOWS
from klankbord.tenancy import Role, staff_context
from tenants.choices import Procedure
from tests.casework.template_cases_clocks import CLOCKS
from tests.support.template_case import Case

EXIT = "https://www.google.com/"
TOKEN = "k3Jx9Qw7LmN2pR5tV8yBa1c2d3e4f5g6"
PATH = f"/r/{TOKEN}"
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0002")
RECEIVED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
CODE = "ABCD-EFGH-JKMN-PQRS-TVWX"
FORM_TOKEN = "f" * 32 + ".1764000000." + "0" * 64
COUNSELLOR = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0007"),
    bureau_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0001"),
    organisation_roles=[(ORGANISATION_ID, Role.COUNSELLOR)],
)

LINK = SimpleNamespace(
    status="live",
    procedure="integrity",
    anonymity="reporter_chooses",
    organisation_id=ORGANISATION_ID,
    organisation_name="Zorggroep De Linde & Partners",
    token=TOKEN,
    has_logo=True,
)
VIEW = SimpleNamespace(
    counsellors=[
        SimpleNamespace(id=UUID(int=7), name="Sanne de Vries"),
        SimpleNamespace(id=UUID(int=8), name="Karim Benali"),
    ],
    procedure_text=Markup("Procedure text of the organisation."),
    anonymity_choices=(Anonymity.ANONYMOUS, Anonymity.CONFIDENTIAL),
)
FILE = SimpleNamespace(
    id=UUID(int=41), name="invoices-march.pdf", size=48_213, stripped=True, has_original=True
)
DEADLINES = SimpleNamespace(
    acknowledgement_due=RECEIVED + timedelta(days=7),
    acknowledged_at=None,
    feedback_due=RECEIVED + timedelta(days=99),
)
MAILBOX = SimpleNamespace(
    status="received",
    received_at=RECEIVED,
    deadlines=DEADLINES,
    report_files=[FILE],
    messages=[
        SimpleNamespace(
            id=UUID(int=51),
            author="counsellor",
            body="Thank you for your report. Since when does this happen?",
            created_at=RECEIVED + timedelta(days=1),
            files=[],
        ),
        SimpleNamespace(
            id=UUID(int=52),
            author="reporter",
            body="Since March.",
            created_at=RECEIVED + timedelta(days=2),
            files=[FILE],
        ),
    ],
    alert_on=True,
    questions=[
        SimpleNamespace(id=UUID(int=71), step="talk_to_manager", status="requested"),
        SimpleNamespace(id=UUID(int=72), step="formal_complaint", status="overridden"),
    ],
)
FORM = {
    "link": LINK,
    "view": VIEW,
    "questions": [],
    "answers": {},
    "values": {},
    "errors": {},
    "form_token": FORM_TOKEN,
    "newly_shown": False,
    "meetings": ["in_person", "phone", "video"],
    "attachment_max_mb": 25,
    "report_max_mb": 100,
}
REPORTER = {"exit_url": EXIT, "link": LINK}
NO_STAFF_FORM = ["_csrf_token", 'href="/sign-in"']

CASES: list[Case] = [
    Case(
        id="reporter-intake",
        template="reporter/intake.html",
        context={**REPORTER, "view": VIEW},
        path=PATH,
        titles={"nl": "Een melding doen", "en": "Make a report", "fr": "Faire un signalement"},
        texts={
            "all": [
                f'href="{EXIT}" rel="noreferrer"',
                "Sanne de Vries",
                f"{PATH}/report?lang=",
                f'src="{PATH}/logo"',
            ],
            "en": ["Start your report", "Open your mailbox with your receipt code"],
        },
        absent=[*NO_STAFF_FORM, "<form"],
    ),
    Case(
        id="reporter-report-form",
        template="reporter/report_form.html",
        context={**REPORTER, **FORM},
        path=f"{PATH}/report",
        titles={"nl": "Je melding", "en": "Your report", "fr": "Votre signalement"},
        texts={
            "all": [
                'enctype="multipart/form-data"',
                f'value="{FORM_TOKEN}"',
                'name="anonymity" value="confidential"',
                "Karim Benali",
            ],
            "en": ["Send report", "HEIC"],
        },
        absent=NO_STAFF_FORM,
    ),
    Case(
        id="reporter-report-form-errors",
        template="reporter/report_form.html",
        context={
            **REPORTER,
            **FORM,
            "values": {"anonymity": "confidential", "alert": "yes", "alert_address": "me"},
            "errors": {
                "name": "name_required",
                "alert_address": "alert_address_invalid",
                "files": "attachment_too_large",
                "form": "form_expired",
            },
        },
        path=f"{PATH}/report",
        status_code=422,
        titles={
            "nl": "Fout: Je melding",
            "en": "Error: Your report",
            "fr": "Erreur\xa0: Votre signalement",
        },
        texts={
            "all": ['href="#name"', 'id="name-error"', 'aria-invalid="true"', 'value="me"'],
            "en": ["There is a problem", "Enter your name", "your text has been kept"],
        },
        absent=NO_STAFF_FORM,
    ),
    Case(
        id="reporter-receipt",
        template="reporter/receipt.html",
        context={**REPORTER, "code": CODE, "form_token": FORM_TOKEN, "error": ""},
        path=f"{PATH}/report",
        titles={
            "nl": "Je melding is verstuurd",
            "en": "Your report has been sent",
            "fr": "Votre signalement a été envoyé",
        },
        texts={"all": [CODE, 'name="saved" value="yes"'], "en": ["I have saved my code"]},
        absent=NO_STAFF_FORM,
    ),
    Case(
        id="reporter-receipt-error",
        template="reporter/receipt.html",
        context={**REPORTER, "code": CODE, "form_token": FORM_TOKEN, "error": "saved_required"},
        path=f"{PATH}/receipt",
        status_code=422,
        titles={
            "nl": "Fout: Je melding is verstuurd",
            "en": "Error: Your report has been sent",
            "fr": "Erreur\xa0: Votre signalement a été envoyé",
        },
        texts={"all": [CODE, 'aria-invalid="true"'], "en": ["Tick the box"]},
    ),
    Case(
        id="reporter-receipt-shown-before",
        template="reporter/receipt.html",
        context={**REPORTER, "code": None, "form_token": FORM_TOKEN, "error": ""},
        path=f"{PATH}/report",
        titles={
            "nl": "Je melding is verstuurd",
            "en": "Your report has been sent",
            "fr": "Votre signalement a été envoyé",
        },
        texts={"en": ["shown only once"]},
        absent=[CODE, "<form"],
    ),
    Case(
        id="reporter-receipt-print",
        template="reporter/receipt_print.html",
        context={**REPORTER, "code": CODE, "form_token": FORM_TOKEN, "error": ""},
        path=f"{PATH}/receipt/print",
        titles={"nl": "Je meldcode", "en": "Your receipt code", "fr": "Votre code de suivi"},
        texts={"all": [CODE]},
    ),
    Case(
        id="reporter-received",
        template="reporter/received.html",
        context=REPORTER,
        path=f"{PATH}/receipt",
        titles={
            "nl": "Bedankt voor je melding",
            "en": "Thank you for your report",
            "fr": "Merci pour votre signalement",
        },
        texts={"all": [f"{PATH}/mailbox?lang="]},
    ),
    Case(
        id="reporter-mailbox-sign-in",
        template="reporter/mailbox_sign_in.html",
        context={**REPORTER, "error": "", "retry_minutes": 0},
        path=f"{PATH}/mailbox",
        titles={
            "nl": "Open je berichtenbox",
            "en": "Open your mailbox",
            "fr": "Ouvrez votre messagerie sécurisée",
        },
        texts={"all": ['name="code"', 'autocomplete="off"'], "en": ["Lost your code?"]},
        absent=NO_STAFF_FORM,
    ),
    Case(
        id="reporter-mailbox-sign-in-wrong",
        template="reporter/mailbox_sign_in.html",
        context={**REPORTER, "error": "wrong_code", "retry_minutes": 0},
        path=f"{PATH}/mailbox",
        status_code=422,
        titles={
            "nl": "Fout: Open je berichtenbox",
            "en": "Error: Open your mailbox",
            "fr": "Erreur\xa0: Ouvrez votre messagerie sécurisée",
        },
        texts={"en": ["This code does not open a mailbox."]},
    ),
    Case(
        id="reporter-mailbox-sign-in-too-many",
        template="reporter/mailbox_sign_in.html",
        context={**REPORTER, "error": "too_many", "retry_minutes": 12},
        path=f"{PATH}/mailbox",
        status_code=429,
        titles={
            "nl": "Fout: Open je berichtenbox",
            "en": "Error: Open your mailbox",
            "fr": "Erreur\xa0: Ouvrez votre messagerie sécurisée",
        },
        texts={"en": ["Try again in 12 minutes."]},
    ),
    Case(
        id="reporter-mailbox",
        template="reporter/mailbox.html",
        context={
            **REPORTER,
            "view": MAILBOX,
            "form_token": "a" * 64,
            "values": {},
            "errors": {},
            "notice": "sent",
            "attachment_max_mb": 25,
        },
        path=f"{PATH}/mailbox",
        titles={"nl": "Je berichtenbox", "en": "Your mailbox", "fr": "Votre messagerie sécurisée"},
        texts={
            "all": ["Since March.", "invoices-march.pdf", f"{PATH}/mailbox/files/", "a" * 64],
            "en": [
                "Your message has been sent.",
                "Questions for you",
                "Close your mailbox",
                "talking to your manager about what happened",
                "without your consent",
            ],
        },
        absent=NO_STAFF_FORM,
    ),
    Case(
        id="reporter-mailbox-errors",
        template="reporter/mailbox.html",
        context={
            **REPORTER,
            "view": MAILBOX,
            "form_token": "a" * 64,
            "values": {"body": "half a message"},
            "errors": {"body": "message_empty"},
            "notice": "",
            "attachment_max_mb": 25,
        },
        path=f"{PATH}/mailbox",
        status_code=422,
        titles={
            "nl": "Fout: Je berichtenbox",
            "en": "Error: Your mailbox",
            "fr": "Erreur\xa0: Votre messagerie sécurisée",
        },
        texts={"all": ["half a message", 'id="body-error"']},
    ),
    Case(
        id="reporter-mailbox-signed-out",
        template="reporter/mailbox_signed_out.html",
        context=REPORTER,
        path=f"{PATH}/mailbox/sign-out",
        titles={
            "nl": "Je berichtenbox is gesloten",
            "en": "Your mailbox is closed",
            "fr": "Votre messagerie sécurisée est fermée",
        },
        texts={"all": [f"{PATH}/mailbox?lang="]},
    ),
    Case(
        id="reporter-not-in-use-text-kept",
        template="reporter/not_in_use.html",
        context={"exit_url": EXIT, "kept": ["Paid twice.", "Since March."]},
        path=f"{PATH}/report",
        titles={
            "nl": "Deze link is op dit moment niet in gebruik",
            "en": "This link is not in use at the moment",
            "fr": "Ce lien n'est pas utilisé pour le moment",
        },
        texts={
            "all": ["Paid twice.\n\nSince March.", "readonly"],
            "en": ["Your text was not sent"],
        },
        absent=["<form"],
    ),
    Case(
        id="cases-list",
        template="cases/list.html",
        context={
            "caseload": SimpleNamespace(
                rows=[
                    SimpleNamespace(
                        id=UUID(int=61),
                        reference="2026-K7QM2X",
                        organisation_name="Zorggroep De Linde & Partners",
                        procedure="integrity",
                        status="received",
                        received_at=RECEIVED,
                        next_due_at=RECEIVED + timedelta(days=7),
                        unread=2,
                    )
                ],
                next_cursor="d~2026-11-09T09:30:00+00:00~00000000-0000-0000-0000-00000000003d",
                total=51,
                due_soon=3,
                overdue=1,
                unread=2,
                organisations=[(ORGANISATION_ID, "Zorggroep De Linde & Partners")],
            ),
            "query": SimpleNamespace(
                organisation=ORGANISATION_ID,
                procedure="integrity",
                status="open",
                due_soon=False,
                unread=True,
            ),
            "procedures": ["unwanted_behaviour", "integrity", "rehabilitation"],
            "statuses": ["open", "received", "in_progress", "closed", "all"],
            "filters": f"organisation={ORGANISATION_ID}&procedure=integrity&unread=1",
        },
        path="/cases",
        principal=COUNSELLOR,
        titles={"nl": "Dossiers", "en": "Cases", "fr": "Dossiers"},
        texts={
            "all": [
                "/cases/00000000-0000-0000-0000-00000000003d",
                "2026-K7QM2X",
                "De Linde &amp; Partners",
                "after=d~2026-11-09T09%3A30%3A00%2B00%3A00~",
            ],
            "en": ["51 cases", "3 cases due within 3 days", "2 unread"],
        },
    ),
    Case(
        id="cases-list-empty",
        template="cases/list.html",
        context={
            "caseload": SimpleNamespace(
                rows=[], next_cursor="", total=0, due_soon=0, overdue=0, unread=0, organisations=[]
            ),
            "query": SimpleNamespace(
                organisation=None, procedure="", status="open", due_soon=False, unread=False
            ),
            "procedures": ["unwanted_behaviour", "integrity", "rehabilitation"],
            "statuses": ["open", "received", "in_progress", "closed", "all"],
            "filters": "",
        },
        path="/cases",
        principal=COUNSELLOR,
        titles={"nl": "Dossiers", "en": "Cases", "fr": "Dossiers"},
        texts={"en": ["No cases match."]},
    ),
    Case(
        id="cases-new-errors",
        template="cases/new.html",
        context={
            "organisations": [(ORGANISATION_ID, "Zorggroep De Linde & Partners")],
            "procedures": ["unwanted_behaviour", "integrity", "rehabilitation"],
            "channels": ["phone", "walk_in"],
            "values": {"summary": "Called about a colleague.", "channel": "phone"},
            "errors": {"organisation": "organisation_required"},
        },
        path="/cases/new",
        principal=COUNSELLOR,
        status_code=422,
        titles={"nl": None, "en": "Error: Open a case", "fr": None},
        texts={
            "all": ["Called about a colleague.", "_csrf_token"],
            "en": ["Choose an organisation."],
        },
    ),
    Case(
        id="case",
        template="cases/case.html",
        context={
            "case": SimpleNamespace(
                id=UUID(int=61),
                organisation_id=ORGANISATION_ID,
                organisation_name="Zorggroep De Linde & Partners",
                reference="2026-K7QM2X",
                channel="online",
                procedure="integrity",
                status="received",
                outcome="",
                closed_at=None,
                categories=["fraud"],
                steps_done=["acknowledged"],
                reporter_role="manager",
                workflow=WORKFLOWS[Procedure.INTEGRITY],
                legal_hold=True,
                linked=(UUID(int=62), "2025-ABCDEF"),
                clocks=CLOCKS,
                masks=[
                    SimpleNamespace(
                        id=UUID(int=95), target="answer:default:wrongdoing", passage="Jan"
                    )
                ],
                anonymity="anonymous",
                meeting="phone",
                received_at=RECEIVED,
                deadlines=DEADLINES,
                answers=[{"key": "default:wrongdoing", "label": "What is it?", "answer": "Fraud."}],
                has_identity=True,
                report_files=[FILE],
                thread=MAILBOX.messages,
            ),
            "values": {},
            "errors": {},
            "notice": "sent",
            "time": SimpleNamespace(entries=[], total_minutes=0),
            "consents": [
                SimpleNamespace(
                    step="forwarded_to_authority",
                    status="given",
                    method="conversation",
                    conversation_on=RECEIVED.date(),
                    justification="",
                    asked_at=RECEIVED,
                )
            ],
            "consent_steps": ["forwarded_to_authority"],
            "justifications": ["legal_duty", "conflict_of_duties"],
            "identity": None,
            "identity_reasons": ["contact_reporter", "plan_meeting", "legal_duty", "handover"],
            "notes": [
                SimpleNamespace(
                    id=UUID(int=81),
                    author="Sanne de Vries",
                    body="Reporter prefers calls after 17:00.",
                    created_at=RECEIVED,
                )
            ],
            "referrals": [
                SimpleNamespace(
                    id=UUID(int=85),
                    actor="integrity_coordinator",
                    recipient="The integrity coordinator",
                    shared="A summary without names.",
                    created_at=RECEIVED,
                )
            ],
            "referral_actors": ["prevention_adviser", "integrity_coordinator", "other"],
            "timeline": [
                SimpleNamespace(
                    occurred_at=RECEIVED, action="case.received", actor="reporter", detail={}
                ),
                SimpleNamespace(
                    occurred_at=RECEIVED,
                    action="case.step_done",
                    actor="counsellor",
                    detail={"step": "assessed"},
                ),
            ],
        },
        path="/cases/00000000-0000-0000-0000-00000000003d",
        principal=COUNSELLOR,
        titles={"nl": "Dossier", "en": "Case", "fr": "Dossier"},
        texts={
            "all": [
                "Fraud.",
                "Since March.",
                "_csrf_token",
                "invoices-march.pdf",
                "2026-K7QM2X",
                'value="fraud" checked',
            ],
            "en": [
                "Send to the reporter",
                "Your message is in the reporter",
                "Mark as done",
                "Close the case",
                "Internal notes",
                "Step done: Report assessed",
            ],
        },
    ),
    Case(
        id="handover",
        template="cases/handover.html",
        context={
            "facts": SimpleNamespace(
                departing={"id": UUID(int=91), "display_name": "Sanne de Vries"},
                organisations=[{"name": "Zorggroep De Linde & Partners", "assignment": "primary"}],
                open_cases=4,
                successors=[{"id": UUID(int=92), "display_name": "Karim Benali"}],
            ),
            "reasons": ["leaving", "long_absence", "conflict_of_interest", "workload"],
            "values": {},
            "errors": {"reason": "reason_required"},
        },
        path="/bureau/counsellors/00000000-0000-0000-0000-00000000005b/handover",
        principal=staff_context(
            staff_user_id=UUID(int=93), bureau_id=UUID(int=94), bureau_admin=True
        ),
        status_code=422,
        titles={"nl": None, "en": "Error: Hand over cases", "fr": None},
        texts={"all": ["Karim Benali", "_csrf_token"], "en": ["4 open cases move"]},
    ),
]

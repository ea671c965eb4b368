"""Casework tables: cases, their report, messages, attachments, reporter sessions, questions.

Every row carries `organisation` and `bureau` itself, also on child tables, and is declared
with `klankbord.tenancy.tenant_owned`. Free text (report answers, identity, messages, file
names, the reporter's alert address) is stored sealed under the organisation's data key
(`casework.sealing`); what stays in clear is dates, codes and sizes.

A reporter context writes the `reporter=CASE` tables: a new case through intake, and after a
mailbox sign-in the rows of that one case (`case` names the column that says which case).
"""

from piccolo.columns import (
    UUID,
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from casework.choices import (
    Anonymity,
    Author,
    CaseStatus,
    Channel,
    MeetingRequest,
    QuestionKind,
    ReporterRole,
)
from klankbord.tenancy import ReporterAccess, tenant_owned
from tenants.tables import Bureau, IntakeLink, Organisation, Procedure, StaffUser

__all__ = [
    "AnnualReport",
    "Attachment",
    "Case",
    "CaseCategory",
    "CaseNote",
    "CaseReport",
    "ClockSettings",
    "Consent",
    "IntakeQuestion",
    "Message",
    "Redaction",
    "Referral",
    "ReporterSession",
    "TimeEntry",
]


@tenant_owned(organisation="organisation", bureau="bureau", reporter=ReporterAccess.CASE, case="id")
class Case(Table, tablename="case_file"):
    """One case. `receipt_lookup` is the keyed hash under which the reporter's receipt code
    finds it, `receipt_verifier` the argon2id hash that proves the code. `submission` is the
    intake form's idempotency token (unique per organisation: a double submit makes one case).
    `submission` is a keyed hash of the form's submission id, from which (with the server
    key) the receipt code is derived: until `pending_until` (an hour, or until the reporter
    confirms having saved it) a retried submit shows the same code again; the code itself is
    never stored."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    intake_link = ForeignKey(IntakeLink, null=True, default=None)
    procedure = Varchar(length=32, choices=Procedure)
    channel = Varchar(length=16, choices=Channel, default=Channel.ONLINE)
    status = Varchar(length=16, choices=CaseStatus, default=CaseStatus.RECEIVED)
    anonymity = Varchar(length=16, choices=Anonymity, default=Anonymity.ANONYMOUS)
    counsellor = ForeignKey(StaffUser, null=True, default=None)  # chosen by the reporter
    meeting = Varchar(length=16, choices=MeetingRequest, default=MeetingRequest.NONE)
    language = Varchar(length=2, default="nl")
    received_at = Timestamptz(default=TimestamptzNow())
    acknowledged_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    reporter_active_at = Timestamptz(default=TimestamptzNow())
    receipt_lookup = Varchar(length=64, unique=True)
    receipt_verifier = Varchar(length=255, secret=True)
    submission = Varchar(length=64)
    pending_until = Timestamptz(null=True, default=None)
    alert_address = Text(null=True, default=None, secret=True)
    # Casework: a pseudonymous reference (the only name of a case outside it), the workflow
    # step, the outcome (required to close), the legal clocks, links and holds.
    reference = Varchar(length=24, default="")
    steps = Varchar(length=400, default="")  # the workflow steps done, comma-separated codes
    outcome = Varchar(length=40, default="")
    reporter_role = Varchar(length=16, choices=ReporterRole, default=ReporterRole.NOT_RECORDED)
    acknowledgement_exception = Varchar(length=32, default="")
    feedback_at = Timestamptz(null=True, default=None)
    first_contact_at = Timestamptz(null=True, default=None)
    next_due_at = Timestamptz(null=True, default=None)  # the nearest open deadline (caseload)
    legal_hold = Boolean(default=False)
    linked_case = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(
    organisation="organisation", bureau="bureau", reporter=ReporterAccess.CASE, case="case"
)
class CaseReport(Table, tablename="case_report"):
    """The report as submitted: `answers` is sealed JSON (each question as it was asked, with
    the answer), `identity` sealed JSON of the contact details (confidential cases only)."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, unique=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    answers = Text(secret=True)
    identity = Text(null=True, default=None, secret=True)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(
    organisation="organisation", bureau="bureau", reporter=ReporterAccess.CASE, case="case"
)
class Message(Table, tablename="case_message"):
    """A message in the case's thread between reporter and counsellor. `read_at`: when the
    other side first saw it."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    author = Varchar(length=16, choices=Author)
    staff_user = ForeignKey(StaffUser, null=True, default=None)
    body = Text(secret=True)
    created_at = Timestamptz(default=TimestamptzNow())
    read_at = Timestamptz(null=True, default=None)


@tenant_owned(
    organisation="organisation", bureau="bureau", reporter=ReporterAccess.CASE, case="case"
)
class Attachment(Table, tablename="case_attachment"):
    """A file of the report (`message` empty) or of a message. `blob` holds the copy shown by
    default (metadata stripped where possible); `original_blob` the untouched file, kept only
    when the reporter asked for it. Both are encrypted streams in the blob store; `name` is
    sealed."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    message = ForeignKey(Message, null=True, default=None)
    author = Varchar(length=16, choices=Author)
    name = Text(secret=True)
    media_type = Varchar(length=100)
    size = BigInt()
    blob = UUID()
    original_blob = UUID(null=True, default=None)
    stripped = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(
    organisation="organisation", bureau="bureau", reporter=ReporterAccess.CASE, case="case"
)
class ReporterSession(Table, tablename="reporter_session"):
    """An open mailbox: the cookie holds a random token, this row its keyed hash. Short-lived
    (idle and absolute limits in `casework.mailbox`)."""

    id = UUID(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()


@tenant_owned(organisation="organisation", bureau="bureau", reporter=ReporterAccess.READ)
class IntakeQuestion(Table, tablename="intake_question"):
    """An organisation's own question for a procedure's intake form (without any, the built-in
    questions apply). `label`, `help` and `choices` are JSON with a text per language;
    `follows`/`follows_value`: shown only when that question got that answer."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    procedure = Varchar(length=32, choices=Procedure)
    position = Integer(default=0)
    kind = Varchar(length=16, choices=QuestionKind)
    label = Text()
    help = Text(default="{}")
    choices = Text(default="[]")
    required = Boolean(default=False)
    follows = UUID(null=True, default=None)
    follows_value = Varchar(length=64, default="")
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class CaseCategory(Table, tablename="case_category"):
    """A category of a case (several per case; statistics count each). `received_at` is the
    case's, copied when the category is set (it never changes), so that the annual report
    counts a year's categories through an index instead of visiting every case."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    code = Varchar(length=40)
    received_at = Timestamptz(null=True, default=None)


@tenant_owned(organisation="organisation", bureau="bureau")
class TimeEntry(Table, tablename="time_entry"):
    """Minutes a counsellor spent on a case (the bureau's billing unit). Outside the case it
    shows only the organisation and the case's reference."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    staff_user = ForeignKey(StaffUser, index=True)
    minutes = Integer()
    activity = Varchar(length=32)
    spent_on = Date()
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau", reporter=ReporterAccess.READ)
class ClockSettings(Table, tablename="clock_settings"):
    """An organisation's legal and practice clocks, when it differs from the defaults
    (`casework.clocks`). `holidays`: comma-separated ISO dates that are no working day."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, unique=True)
    bureau = ForeignKey(Bureau, index=True)
    acknowledge_days = Integer(default=7)
    acknowledge_warning_day = Integer(default=5)
    feedback_months = Integer(default=3)
    feedback_reminder_days = Integer(default=15)
    first_contact_working_days = Integer(default=2)
    first_conversation_days = Integer(default=10)
    holidays = Text(default="")
    updated_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(
    organisation="organisation", bureau="bureau", reporter=ReporterAccess.CASE, case="case"
)
class Consent(Table, tablename="case_consent"):
    """The reporter's consent to one outward step (REQUIREMENTS §4): asked in the mailbox and
    answered there, or recorded by the counsellor after a conversation (`conversation_on`,
    `method`). An override without consent (`status` "overridden") carries a justification
    code, a sealed explanation, and whether telling the reporter would endanger the
    investigation."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    step = Varchar(length=40)
    status = Varchar(length=16)  # requested, given, refused, overridden
    method = Varchar(length=16)  # mailbox, conversation, override
    staff_user = ForeignKey(StaffUser, null=True, default=None)
    conversation_on = Date(null=True, default=None)
    justification = Varchar(length=32, default="")
    explanation = Text(null=True, default=None, secret=True)
    reporter_told = Boolean(default=True)
    asked_at = Timestamptz(default=TimestamptzNow())
    answered_at = Timestamptz(null=True, default=None)


@tenant_owned(organisation="organisation", bureau="bureau")
class CaseNote(Table, tablename="case_note"):
    """A counsellor's internal note on a case: private to the case's counsellors (never the
    reporter, never the organisation), sealed like all case text."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    staff_user = ForeignKey(StaffUser, null=True, default=None)
    body = Text(secret=True)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class Referral(Table, tablename="case_referral"):
    """A hand-off to a back-office actor (REQUIREMENTS §4), made only with the reporter's
    consent: to whom (`actor` kind, `recipient` sealed) and what was shared (sealed)."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    actor = Varchar(length=32)
    recipient = Text(secret=True)
    shared = Text(secret=True)
    staff_user = ForeignKey(StaffUser, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class Redaction(Table, tablename="case_redaction"):
    """A masked passage (non-destructive): shown as masked on the case page and in exports,
    the original kept; lifting the mask removes the row. `target` is "answer:<key>" or
    "message:<id>"; the passage is sealed. A destroyed passage leaves no row: the text itself
    is re-sealed without it."""

    id = UUID(primary_key=True)
    case = ForeignKey(Case, index=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    target = Varchar(length=80)
    passage = Text(secret=True)
    staff_user = ForeignKey(StaffUser, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class AnnualReport(Table, tablename="annual_report"):
    """An organisation's annual report for one year (one per organisation and year, a unique
    index). Until it is final the figures are counted afresh whenever it is shown; `figures`
    holds the published figures (JSON, small counts already suppressed) from the moment it
    is final, so a final report never changes, also after cases are purged. The narrative and
    the preventive activities are the counsellor's free text: sealed like case content."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    year = Integer()
    status = Varchar(length=16, default="draft")  # annual_model.ReportStatus
    k = Integer(default=3)  # small counts below k are suppressed
    narrative = Text(default="", secret=True)
    preventive = Text(default="", secret=True)
    figures = Text(null=True, default=None)
    submitted_at = Timestamptz(null=True, default=None)
    finalised_at = Timestamptz(null=True, default=None)
    finalised_by = ForeignKey(StaffUser, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


TABLES: tuple[type[Table], ...] = (
    Case,
    CaseReport,
    Message,
    Attachment,
    ReporterSession,
    IntakeQuestion,
    CaseCategory,
    TimeEntry,
    ClockSettings,
    Consent,
    CaseNote,
    Referral,
    Redaction,
    AnnualReport,
)

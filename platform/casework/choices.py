"""The fixed vocabularies of casework (stored as their string values)."""

from enum import StrEnum


class CaseStatus(StrEnum):
    RECEIVED = "received"  # in, not yet acknowledged to the reporter
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class Channel(StrEnum):
    ONLINE = "online"  # through an intake link
    PHONE = "phone"
    WALK_IN = "walk_in"


class Anonymity(StrEnum):
    """What the reporter chose (or the link imposed) for this case."""

    ANONYMOUS = "anonymous"  # no identity stored
    CONFIDENTIAL = "confidential"  # identity known to the counsellor only


class MeetingRequest(StrEnum):
    NONE = ""
    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"


class ReporterRole(StrEnum):
    """Who came to the counsellor, as the counsellor records it for the annual report."""

    NOT_RECORDED = ""
    EMPLOYEE = "employee"
    MANAGER = "manager"


class Author(StrEnum):
    REPORTER = "reporter"
    COUNSELLOR = "counsellor"


class QuestionKind(StrEnum):
    TEXT = "text"  # one line
    LONG_TEXT = "long_text"
    CHOICE = "choice"
    DATE = "date"
    YES_NO = "yes_no"


class TimeActivity(StrEnum):
    CONVERSATION = "conversation"
    PHONE_CALL = "phone_call"
    CORRESPONDENCE = "correspondence"
    PREPARATION = "preparation"
    CONSULTATION = "consultation"  # with a colleague or expert, anonymised
    TRAVEL = "travel"
    OTHER = "other"


class AcknowledgementException(StrEnum):
    """Why no acknowledgement was sent within the deadline (REQUIREMENTS §3)."""

    NONE = ""
    REPORTER_DECLINED = "reporter_declined"
    WOULD_ENDANGER_IDENTITY = "would_endanger_identity"

"""The audit log table. Append-only: the app role may insert and read, never change.

Each bureau has its own chain (`chain` = the bureau id; platform events use "platform"); each
event carries the hash of the previous one in its chain, so `klankbord audit verify` finds an
edited, inserted or deleted event. No free text goes in: `detail` holds ids and codes only.
"""

from piccolo.columns import JSONB, UUID, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class AuditEvent(Table, tablename="audit_event"):
    id = UUID(primary_key=True)
    chain = Varchar(length=64, index=True)
    seq = Integer()
    occurred_at = Timestamptz(default=TimestamptzNow())
    bureau = UUID(null=True, default=None)
    organisation = UUID(null=True, default=None)
    actor = Varchar(length=120)
    action = Varchar(length=80)
    subject_type = Varchar(length=40, default="")
    subject_id = Varchar(length=64, default="")
    detail = JSONB(default="{}")
    prev_hash = Varchar(length=64)
    hash = Varchar(length=64)


class AuditHead(Table, tablename="audit_head"):
    """The latest event of each chain, so that removing the newest events is detected too."""

    chain = Varchar(length=64, primary_key=True)
    seq = Integer()
    hash = Varchar(length=64)


class MailOutbox(Table, tablename="mail_outbox"):
    """Mail waiting for delivery, written in the same transaction as the change it reports.

    Not tenant-owned: only the kernel's delivery job reads it, under a system context, and a
    tenant never lists it. The body may carry a single-use link, so it is erased once sent.
    """

    id = UUID(primary_key=True)
    bureau = UUID(null=True, default=None)
    dedupe_key = Varchar(length=128, null=True, default=None, unique=True)
    recipient = Varchar(length=254)
    subject = Varchar(length=200)
    body = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    send_after = Timestamptz(default=TimestamptzNow())
    attempts = Integer(default=0)
    last_error = Varchar(length=120, default="")
    sent_at = Timestamptz(null=True, default=None)


class RateLimit(Table, tablename="rate_limit"):
    """Attempt counters in fixed windows, shared by every app process.

    Not tenant-owned: sign-in and receipt-code attempts are counted before anyone is known.
    `key` is a keyed hash (account, address, intake link), never the value itself.
    """

    key = Varchar(length=64, primary_key=True)
    window_start = Integer()  # epoch seconds
    attempts = Integer(default=0)

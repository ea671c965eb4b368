"""The audit log table. Append-only: the app role may insert and read, never change.

Each bureau has its own chain (`chain` = the bureau id; platform events use "platform"); each
event carries the hash of the previous one in its chain, so `klankbord audit verify` finds an
edited, inserted or deleted event. No free text goes in: `detail` holds ids and codes only.
"""

from piccolo.columns import JSONB, UUID, Integer, Timestamptz, Varchar
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

"""Casework tables (cases, reports, messages, attachments, consent, deadlines, time entries).

None yet: the reporter intake issue adds the first. Every table here will carry
`organisation` and `bureau` directly and be declared with `klankbord.tenancy.tenant_owned`.
"""

from piccolo.table import Table

TABLES: tuple[type[Table], ...] = ()

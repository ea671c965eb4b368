"""Billing tables (plans, Stripe customers and subscriptions, usage, webhook events).

None yet: the billing issue adds them. Every table here will carry
`organisation` and `bureau` directly and be declared with `klankbord.tenancy.tenant_owned`.
"""

from piccolo.table import Table

TABLES: tuple[type[Table], ...] = ()

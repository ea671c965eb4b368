"""Billing tables: a bureau's Stripe connection and plans, each organisation's billing, the
hours invoiced per period, and the Stripe calls and webhook events waiting or seen.

Tenant tables carry `bureau` (and `organisation` where they are about one) and are declared
with `klankbord.tenancy.tenant_owned`. The bureau's Stripe secret key and webhook secret are
sealed with `SecretBox` (contexts "stripe-key:<bureau id>", "stripe-webhook:<bureau id>").
The outbox and the webhook log are the kernel's kind of table (like the mail outbox): only
jobs and the webhook endpoint read them, under a system context.
"""

from piccolo.columns import (
    UUID,
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

from klankbord.tenancy import tenant_owned
from tenants.tables import Bureau, Organisation

__all__ = [
    "BillingAccount",
    "BillingOutbox",
    "BureauSubscription",
    "HoursInvoiced",
    "OrganisationBilling",
    "Plan",
    "WebhookEvent",
]


@tenant_owned(bureau="bureau")
class BillingAccount(Table, tablename="billing_account"):
    """A bureau's own Stripe account, with which it bills its organisations (optional)."""

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, unique=True)
    secret_key_sealed = Text(secret=True)
    webhook_secret_sealed = Text(secret=True)
    currency = Varchar(length=3, default="eur")
    trial_days = Integer(default=30)
    connected_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(bureau="bureau")
class Plan(Table, tablename="billing_plan"):
    """A price by headcount band: from `min_headcount` up to `max_headcount` (0: no upper
    bound), per `interval`, with counsellor hours included per period and a price per extra
    hour. `stripe_plan_id` is the Stripe Plan made for this price (empty until first used;
    a new price gets a new Stripe Plan, as Stripe Plans cannot change their amount)."""

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, index=True)
    name = Varchar(length=80)
    min_headcount = Integer(default=1)
    max_headcount = Integer(default=0)
    amount_cents = Integer()
    interval = Varchar(length=8, default="month")
    included_minutes = Integer(default=0)
    extra_hour_cents = Integer(default=0)
    stripe_plan_id = Varchar(length=255, default="")
    stripe_plan_amount = Integer(default=0)  # the amount the Stripe Plan was made with
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class OrganisationBilling(Table, tablename="organisation_billing"):
    """How one organisation is billed: who pays (the organisation, or the bureau absorbs it),
    how invoices are paid (sent for payment by transfer, or charged), its plan, and its
    Stripe customer and subscription with the state last read from Stripe."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, unique=True)
    bureau = ForeignKey(Bureau, index=True)
    payer = Varchar(length=16, default="organisation")
    collection = Varchar(length=16, default="send_invoice")
    plan = ForeignKey(Plan, null=True, default=None)
    stripe_customer_id = Varchar(length=255, default="")
    stripe_subscription_id = Varchar(length=255, default="")
    status = Varchar(length=24, default="")  # Stripe's subscription status, "" before one
    payment_failed = Boolean(default=False)
    trial_end = Timestamptz(null=True, default=None)
    billed_from = Date(null=True, default=None)  # the first day hours count for invoicing
    sync_error = Varchar(length=40, default="")  # a code, when Stripe could not be reached
    generation = Integer(default=0)  # + 1 per change by the admin: part of idempotency keys
    updated_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(organisation="organisation", bureau="bureau")
class HoursInvoiced(Table, tablename="billing_hours"):
    """The hours of one organisation in one period, and the invoice item for those beyond
    the plan's (one row per organisation and period: a rerun invoices nothing twice)."""

    id = UUID(primary_key=True)
    organisation = ForeignKey(Organisation, index=True)
    bureau = ForeignKey(Bureau, index=True)
    period_start = Date()
    period_end = Date()  # exclusive
    used_minutes = Integer()
    included_minutes = Integer()
    extra_minutes = Integer()
    amount_cents = Integer()
    stripe_item_id = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class BillingOutbox(Table, tablename="billing_outbox"):
    """A Stripe call to make (again): written in the transaction of the change that needs
    it, done by the `billing` job, retried with backoff while Stripe is unavailable. The
    operation's idempotency key makes a retry create nothing twice."""

    id = UUID(primary_key=True)
    bureau = UUID(null=True, default=None)
    organisation = UUID(null=True, default=None)
    operation = Varchar(length=32)
    dedupe_key = Varchar(length=128, unique=True)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    last_error = Varchar(length=40, default="")
    done_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class WebhookEvent(Table, tablename="billing_webhook_event"):
    """A Stripe event received and verified, stored once by (endpoint, Stripe event id): a
    replayed event changes nothing. Ids and the type only, never the event's content."""

    id = UUID(primary_key=True)
    endpoint = Varchar(length=40)  # "platform" or the bureau's id
    event_id = Varchar(length=255)
    event_type = Varchar(length=80)
    object_id = Varchar(length=255, default="")
    received_at = Timestamptz(default=TimestamptzNow())


@tenant_owned(bureau="bureau")
class BureauSubscription(Table, tablename="bureau_subscription"):
    """What the platform bills a bureau, on the platform's own Stripe account: one
    subscription whose quantity is the bureau's active client organisations. `past_due_since`
    is when Stripe first said a payment was missing (cleared once paid): staff are warned
    from then on and restricted after the grace period; reporters never notice anything."""

    id = UUID(primary_key=True)
    bureau = ForeignKey(Bureau, unique=True)
    stripe_customer_id = Varchar(length=255, default="")
    stripe_plan_id = Varchar(length=255, default="")
    stripe_plan_amount = Integer(default=0)
    stripe_subscription_id = Varchar(length=255, default="")
    quantity = Integer(default=0)  # as last sent to Stripe
    status = Varchar(length=24, default="")
    trial_end = Timestamptz(null=True, default=None)
    past_due_since = Timestamptz(null=True, default=None)
    generation = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())


TABLES: tuple[type[Table], ...] = (
    BillingAccount,
    Plan,
    OrganisationBilling,
    HoursInvoiced,
    BillingOutbox,
    WebhookEvent,
    BureauSubscription,
)

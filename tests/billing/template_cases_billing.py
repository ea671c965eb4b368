"""Template rendering cases for the billing pages (collected by
tests/klankbord/test_templates.py): the bureau's Stripe connection and plans (not connected,
with an error), an organisation's billing for the admin (plans, usage, invoices, the form)
and for its contact (read-only, a failed payment, Stripe unreachable)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from uuid import UUID

from billing.accounts import PlanView
from klankbord.tenancy import Role, staff_context
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0901")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0902")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0903"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
CONTACT = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0904"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.ORGANISATION_CONTACT)],
)
TITLES: dict[str, str | None] = {"nl": None, "en": None, "fr": None}
PLANS = [
    PlanView(UUID(int=0x911), "1-49", 1, 49, 4500, "month", 120, 9500),
    PlanView(UUID(int=0x912), "1000+", 1000, 0, 65000, "year", 1920, 9500),
]
WEBHOOK = f"https://klankbord.example/billing/webhooks/{BUREAU_ID}"


def _billing(**changes: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "organisation_id": ORGANISATION_ID,
        "bureau_id": BUREAU_ID,
        "customer_id": "cus_123",
        "organisation_name": "Woonstichting <De Haven>",
        "headcount": 37,
        "connected": True,
        "payer": "organisation",
        "collection": "send_invoice",
        "plan": PLANS[0],
        "plan_chosen": False,
        "plans": PLANS,
        "status": "trialing",
        "payment_failed": False,
        "trial_end": datetime(2027, 1, 5, 12, tzinfo=UTC),
        "sync_error": "",
        "may_edit": True,
    }
    values.update(changes)
    return SimpleNamespace(**values)


USAGE = SimpleNamespace(
    period_start=date(2026, 12, 1),
    period_end=date(2027, 1, 1),
    used_minutes=150,
    included_minutes=120,
)
INVOICES = [
    SimpleNamespace(
        id="in_1",
        number="KB-0001",
        status="paid",
        amount_due=4500,
        currency="eur",
        created=datetime(2026, 11, 1, 9, tzinfo=UTC),
        hosted_invoice_url="https://invoice.stripe.com/i/abc",
    )
]

CASES: list[Case] = [
    Case(
        id="billing-bureau-not-connected",
        template="billing/bureau.html",
        context={
            "account": SimpleNamespace(connected=False, currency="eur", trial_days=30),
            "subscription": SimpleNamespace(
                status="past_due",
                quantity=7,
                trial_end=None,
                past_due_since=datetime(2026, 11, 20, 8, tzinfo=UTC),
            ),
            "plans": PLANS,
            "webhook_url": WEBHOOK,
            "errors": {
                "secret_key": "stripe_key_invalid",
                f"amount-{PLANS[0].id}": "amount_invalid",
            },
            "values": {"trial_days": "45"},
        },
        path="/bureau/billing",
        principal=ADMIN,
        titles=TITLES,
        texts={
            "all": [
                WEBHOOK,
                'value="45"',
                'id="error-summary"',
                f'action="/bureau/billing/plans/{PLANS[0].id}"',
                'value="45.00"',
                'type="password"',
                "20-11-2026",
            ],
            "nl": ["€\xa0650,00"],
            "en": ["€650.00"],
            "fr": ["650,00\xa0€"],
        },
        status_code=422,
    ),
    Case(
        id="billing-organisation-admin",
        template="billing/organisation.html",
        context={
            "billing": _billing(),
            "usage": USAGE,
            "invoices": INVOICES,
            "notice": "",
            "errors": {},
            # The bureau's own payment to the platform is overdue: the banner on every page.
            "staff_banner": SimpleNamespace(warned=True, restricted=False, since=None),
        },
        path=f"/organisations/{ORGANISATION_ID}/billing",
        principal=ADMIN,
        titles=TITLES,
        texts={
            "all": [
                "Woonstichting &lt;De Haven&gt;",
                "KB-0001",
                "05-01-2027",
                'href="https://invoice.stripe.com/i/abc"',
                'class="notice notice-error staff-banner"',
                f'action="/organisations/{ORGANISATION_ID}/billing"',
                "2.5",
            ],
            "nl": ["€\xa045,00"],
            "en": ["€45.00"],
            "fr": ["45,00\xa0€"],
        },
    ),
    Case(
        id="billing-organisation-contact",
        template="billing/organisation.html",
        context={
            "billing": _billing(
                may_edit=False, payment_failed=True, status="past_due", plan_chosen=True
            ),
            "usage": None,
            "invoices": None,
            "notice": "waiting",
            "errors": {},
        },
        path=f"/organisations/{ORGANISATION_ID}/billing",
        principal=CONTACT,
        titles=TITLES,
        texts={"all": ['role="alert"']},
        absent=["<form", "<table"],
    ),
    Case(
        id="billing-restricted-admin",
        template="billing/restricted.html",
        context={
            "standing": SimpleNamespace(warned=True, restricted=True, since=None),
            "is_admin": True,
            "staff_banner": SimpleNamespace(warned=True, restricted=True, since=None),
        },
        path="/cases",
        principal=ADMIN,
        titles=TITLES,
        texts={"all": ['href="/bureau/billing"']},
        status_code=402,
    ),
    Case(
        id="billing-restricted-counsellor",
        template="billing/restricted.html",
        context={
            "standing": SimpleNamespace(warned=True, restricted=True, since=None),
            "is_admin": False,
        },
        path="/cases",
        principal=CONTACT,
        titles=TITLES,
        absent=['href="/bureau/billing"'],
        status_code=402,
    ),
]

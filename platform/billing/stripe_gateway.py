"""The one door to Stripe: customers, Plans, subscriptions, invoice items, invoices, webhooks.

Nothing else in Klankbord imports `stripe`, so an API upgrade, a library upgrade or a switch of
HTTP client happens here and nowhere else. Every call takes a `Connection` that carries the API
key (the platform's own key, or a bureau's key): there is no module-level key, so a request can
never be sent with the wrong account's credentials. What comes back are plain dataclasses, so
callers neither depend on stripe objects nor accidentally store them.

The design keeps to what real Stripe and `localstripe` (the tests' loopback Stripe) both offer:
Plans (not Prices), licensed per-unit quantity, trials by end date, invoice items and signed
webhooks. Real Stripe offers more that a later step may use: Prices and Products (Plans are their
older, still supported form: a Plan id is accepted wherever a Price id is), usage meters for
metered hours, Checkout and the customer portal for payment details, Stripe Tax, and invoices
sent for payment by transfer (`collection_method=send_invoice`, see `create_subscription`).

Calls are blocking in the stripe library and run in a worker thread (`asyncio.to_thread`).
The library's own async mode would need an httpx client whose lifetime is tied to one event
loop, to be closed after every call or shared module-wide; billing calls are rare (an admin
action, an outbox run), so a thread per call is the simpler and sturdier choice.

Errors come in two kinds: `StripeUnavailable` (network, timeout, 5xx, rate limit; the caller
retries from its outbox) and `StripeRefused` (Stripe said no; retrying will not help). Neither
carries the API key, a name or an e-mail address in its message, and the library's own
exception is not chained (its message can echo request data), so a log stays clean.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import stripe
from stripe.params import (
    CustomerCreateParams,
    InvoiceItemCreateParams,
    PlanCreateParams,
    SubscriptionCreateParams,
    SubscriptionUpdateParams,
)

# Pinned: Stripe shapes its responses by this version, not by the library's default, so a
# library upgrade alone never changes what we parse. Raise it deliberately, with the tests.
API_VERSION = "2026-10-28.endive"
TIMEOUT_SECONDS = 10.0
# Stripe's own tolerance for a webhook's timestamp: older signed bodies are replays.
WEBHOOK_TOLERANCE_SECONDS = 300

T = TypeVar("T")


@dataclass(frozen=True)
class Connection:
    """Whose Stripe account to talk to, and where. The key never shows in `repr`.

    `base_url` None means Stripe itself; the tests point it at localstripe on loopback. The
    capability flags describe that emulator's gaps, so production code paths stay the same.
    """

    api_key: str = field(repr=False)
    base_url: str | None = None
    send_invoice_supported: bool = True
    proration_behavior_supported: bool = True
    timeout_seconds: float = TIMEOUT_SECONDS


@dataclass(frozen=True)
class Customer:
    id: str


@dataclass(frozen=True)
class Subscription:
    id: str
    status: str
    quantity: int
    current_period_start: datetime
    current_period_end: datetime
    trial_end: datetime | None
    plan_id: str
    customer_id: str


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str | None  # Stripe numbers an invoice when it is finalised
    status: str
    amount_due: int  # in cents
    currency: str
    created: datetime
    hosted_invoice_url: str | None


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    object_type: str
    object_id: str
    created: datetime


class StripeGatewayError(Exception):
    """Base of what this module raises; messages never hold keys, names or addresses."""


class StripeUnavailable(StripeGatewayError):
    """Stripe could not be reached or could not answer now: retry later from the outbox."""

    def __init__(self, http_status: int | None = None) -> None:
        self.http_status = http_status
        where = "no answer" if http_status is None else f"HTTP {http_status}"
        super().__init__(f"Stripe unavailable ({where})")


class StripeRefused(StripeGatewayError):
    """Stripe refused the request (4xx); the same request will be refused again."""

    def __init__(self, code: str, http_status: int | None = None) -> None:
        self.code = code
        self.http_status = http_status
        super().__init__(f"Stripe refused the request ({code})")


class SignatureInvalid(StripeGatewayError):
    """A webhook body is not signed with our secret, is too old, or is not an event."""


async def create_customer(
    conn: Connection,
    *,
    name: str,
    email: str,
    metadata: Mapping[str, str],
    idempotency_key: str,
) -> Customer:
    params: CustomerCreateParams = {"name": name, "email": email, "metadata": dict(metadata)}
    data = await _call(
        conn,
        lambda client: client.v1.customers.create(
            params, {"idempotency_key": idempotency_key}
        ).to_dict(),
    )
    return Customer(id=data["id"])


async def create_plan(
    conn: Connection,
    *,
    product_name: str,
    amount_cents: int,
    currency: str,
    interval: Literal["month", "year"],
    idempotency_key: str,
) -> str:
    """A per-unit Plan with its product made inline; returns the Plan id.

    Real Stripe would rather see a Product and a Price; a Plan is a Price to it, so the id
    returned here works in both worlds.
    """
    params: PlanCreateParams = {
        "amount": amount_cents,
        "currency": currency,
        "interval": interval,
        "product": {"name": product_name},
    }
    data = await _call(
        conn,
        lambda client: client.v1.plans.create(
            params, {"idempotency_key": idempotency_key}
        ).to_dict(),
    )
    return str(data["id"])


def trial_end_for(trial_days: int, *, now: datetime | None = None) -> datetime:
    """The end of a trial of `trial_days` whole days: the next UTC midnight after that many
    days. A retry under the same idempotency key (the outbox's, minutes or hours later) so
    sends the same parameters, as Stripe requires of a repeated request, the same day."""
    end = (now or datetime.now(UTC)).astimezone(UTC) + timedelta(days=trial_days)
    return (end + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def trial_left(trial_end: datetime | None, *, now: datetime | None = None) -> datetime | None:
    """The same trial end for a subscription that replaces one still in its trial (a new
    plan, or paying again), so the trial neither grows nor shrinks; None once it is over."""
    if trial_end is None or trial_end.astimezone(UTC) <= (now or datetime.now(UTC)):
        return None
    return trial_end.astimezone(UTC)


async def create_subscription(
    conn: Connection,
    *,
    customer_id: str,
    plan_id: str,
    quantity: int,
    trial_end: datetime | None,
    collection: Literal["charge", "send_invoice"],
    days_until_due: int,
    idempotency_key: str,
) -> Subscription:
    """One subscription item: `plan_id` times `quantity` (active organisations, say).

    The trial is sent as an end date rather than `trial_period_days`: Stripe accepts both, and
    localstripe only reports a trial given by its end.
    """
    params: SubscriptionCreateParams = {
        "customer": customer_id,
        "items": [{"plan": plan_id, "quantity": quantity}],
    }
    if trial_end is not None:
        params["trial_end"] = int(trial_end.timestamp())
    if collection == "send_invoice" and conn.send_invoice_supported:
        # Real Stripe e-mails each invoice for payment by bank transfer within
        # `days_until_due` days (B2B); nothing is charged automatically.
        params["collection_method"] = "send_invoice"
        params["days_until_due"] = days_until_due
    # Otherwise Stripe's default, `charge_automatically`: the customer's payment method is
    # charged. localstripe knows only that, hence the fallback behind the capability flag.
    data = await _call(
        conn,
        lambda client: client.v1.subscriptions.create(
            params, {"idempotency_key": idempotency_key}
        ).to_dict(),
    )
    return _subscription(data)


async def set_quantity(
    conn: Connection, subscription_id: str, quantity: int, *, prorate: bool
) -> Subscription:
    """Change the number of units on the subscription's single item.

    `prorate`: charge or credit the rest of the period now (onboarding, offboarding) or let the
    new quantity start at the next period. Safe to repeat: the same quantity twice is a no-op.
    """

    def update(client: stripe.StripeClient) -> dict[str, Any]:
        current = client.v1.subscriptions.retrieve(subscription_id).to_dict()
        params: SubscriptionUpdateParams = {
            "items": [{"id": current["items"]["data"][0]["id"], "quantity": quantity}]
        }
        if conn.proration_behavior_supported:
            params["proration_behavior"] = "create_prorations" if prorate else "none"
        # Without the flag (localstripe) the parameter is refused; it prorates on its own.
        return client.v1.subscriptions.update(subscription_id, params).to_dict()

    return _subscription(await _call(conn, update))


async def cancel_subscription(conn: Connection, subscription_id: str) -> Subscription:
    """Cancel at once (not at the period's end): a bureau that leaves stops paying now."""
    data = await _call(
        conn, lambda client: client.v1.subscriptions.cancel(subscription_id).to_dict()
    )
    return _subscription(data)


async def get_subscription(conn: Connection, subscription_id: str) -> Subscription:
    """The current state; webhook handlers read it rather than trust an event's snapshot,
    because Stripe does not deliver events in order."""
    data = await _call(
        conn, lambda client: client.v1.subscriptions.retrieve(subscription_id).to_dict()
    )
    return _subscription(data)


async def add_invoice_item(
    conn: Connection,
    *,
    customer_id: str,
    amount_cents: int,
    currency: str,
    description: str,
    idempotency_key: str,
) -> str:
    """A pending line that Stripe puts on the customer's next invoice; returns its id.

    The description is shown to the customer: callers put counts and a period in it, never a
    case, a name or a category.
    """
    params: InvoiceItemCreateParams = {
        "customer": customer_id,
        "amount": amount_cents,
        "currency": currency,
        "description": description,
    }
    data = await _call(
        conn,
        lambda client: client.v1.invoice_items.create(
            params, {"idempotency_key": idempotency_key}
        ).to_dict(),
    )
    return str(data["id"])


async def list_invoices(conn: Connection, customer_id: str, limit: int = 12) -> list[Invoice]:
    """The customer's latest invoices, newest first."""
    rows = await _call(
        conn,
        lambda client: [
            invoice.to_dict()
            for invoice in client.v1.invoices.list({"customer": customer_id, "limit": limit}).data
        ],
    )
    return [_invoice(row) for row in rows]


def verify_event(payload: bytes, signature_header: str, secret: str) -> Event:
    """Check a webhook's signature and age, then read the event from the verified body.

    Pure and fast, so a webhook route can answer at once. The body is parsed only after the
    signature holds, and by us, not into a stripe object.
    """
    try:
        stripe.WebhookSignature.verify_header(
            payload, signature_header, secret, WEBHOOK_TOLERANCE_SECONDS
        )
        data = json.loads(payload)
        obj = data["data"]["object"]
        return Event(
            id=str(data["id"]),
            type=str(data["type"]),
            object_type=str(obj["object"]),
            object_id=str(obj["id"]),
            created=_utc(data["created"]),
        )
    except (stripe.SignatureVerificationError, ValueError, KeyError, TypeError):
        # ValueError covers bad UTF-8 and bad JSON; KeyError/TypeError a body that is no event.
        raise SignatureInvalid("webhook signature or body invalid") from None


async def _call(conn: Connection, operation: Callable[[stripe.StripeClient], T]) -> T:
    """Run `operation` with a client for `conn` in a worker thread; translate its errors."""

    def run() -> T:
        http_client = stripe.RequestsClient(timeout=conn.timeout_seconds)
        client = stripe.StripeClient(
            conn.api_key,
            stripe_version=API_VERSION,
            base_addresses={"api": conn.base_url} if conn.base_url else None,
            # The outbox retries; a retry here would only hold an admin's request longer.
            max_network_retries=0,
            http_client=http_client,
        )
        try:
            return operation(client)
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        finally:
            http_client.close()  # type: ignore[no-untyped-call]  # untyped in the library

    return await asyncio.to_thread(run)


def _translate(exc: stripe.StripeError) -> StripeGatewayError:
    status = exc.http_status
    transient = (
        isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError | stripe.APIError)
        or status is None
        or status >= 500
        # Two requests with one idempotency key at the same moment: Stripe asks to retry.
        or exc.code == "lock_timeout"
    )
    if transient:
        return StripeUnavailable(status)
    return StripeRefused(exc.code or f"http_{status}", status)


def _subscription(data: dict[str, Any]) -> Subscription:
    item = data["items"]["data"][0]
    # Newer API versions keep the period on the item; localstripe keeps it on the subscription.
    start = item.get("current_period_start") or data["current_period_start"]
    end = item.get("current_period_end") or data["current_period_end"]
    plan = item.get("plan") or item["price"]
    return Subscription(
        id=str(data["id"]),
        status=str(data["status"]),
        quantity=int(item.get("quantity") or 1),
        current_period_start=_utc(start),
        current_period_end=_utc(end),
        trial_end=_utc(data["trial_end"]) if data.get("trial_end") else None,
        plan_id=str(plan["id"] if isinstance(plan, dict) else plan),
        customer_id=_id(data["customer"]),
    )


def _invoice(data: dict[str, Any]) -> Invoice:
    return Invoice(
        id=str(data["id"]),
        number=data.get("number"),
        status=str(data["status"]),
        amount_due=int(data["amount_due"]),
        currency=str(data["currency"]),
        created=_utc(data["created"]),
        hosted_invoice_url=data.get("hosted_invoice_url"),
    )


def _id(value: str | dict[str, Any]) -> str:
    """An id, whether Stripe sent it bare or as an expanded object."""
    return str(value["id"] if isinstance(value, dict) else value)


def _utc(timestamp: int | float | str) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC)

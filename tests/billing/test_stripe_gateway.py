"""The Stripe gateway against localstripe on 127.0.0.1 (real HTTP), plus a recording stand-in
where localstripe cannot show something (headers it ignores, errors it never gives)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from billing import stripe_gateway as gateway
from billing.stripe_gateway import Connection, SignatureInvalid, StripeRefused, StripeUnavailable
from tests.billing.conftest import StripeApi
from tests.support.localstripe import LocalStripe
from tests.support.smtp import free_port


def key(label: str) -> str:
    """A fresh idempotency key, as a caller would derive one from its outbox row."""
    return f"{label}-{secrets.token_hex(8)}"


async def make_plan(conn: Connection, amount_cents: int = 1000) -> str:
    return await gateway.create_plan(
        conn,
        product_name="Organisations 50-249",
        amount_cents=amount_cents,
        currency="eur",
        interval="month",
        idempotency_key=key("plan"),
    )


async def make_customer(conn: Connection, name: str = "Bureau Noord") -> str:
    customer = await gateway.create_customer(
        conn,
        name=name,
        email="billing@bureau-noord.example",
        metadata={"bureau": "noord"},
        idempotency_key=key("customer"),
    )
    return customer.id


async def subscribe(conn: Connection, customer_id: str, plan_id: str, quantity: int) -> Any:
    return await gateway.create_subscription(
        conn,
        customer_id=customer_id,
        plan_id=plan_id,
        quantity=quantity,
        trial_end=gateway.trial_end_for(14),
        collection="send_invoice",
        days_until_due=30,
        idempotency_key=key("subscription"),
    )


async def test_subscription_trial_quantity_changes_and_cancel_read_back(
    stripe_api: StripeApi,
) -> None:
    conn = stripe_api.connection()
    plan_id = await make_plan(conn)
    customer_id = await make_customer(conn)

    created = await subscribe(conn, customer_id, plan_id, quantity=3)
    assert (created.quantity, created.plan_id, created.customer_id) == (3, plan_id, customer_id)
    assert created.trial_end is not None
    assert created.trial_end == gateway.trial_end_for(14)  # midnight after 14 days: retry-stable
    assert created.current_period_start.tzinfo is UTC
    assert created.current_period_end > created.current_period_start
    assert await gateway.get_subscription(conn, created.id) == created

    up = await gateway.set_quantity(conn, created.id, 5, prorate=True)
    assert up.quantity == 5
    assert (await gateway.get_subscription(conn, created.id)).quantity == 5
    down = await gateway.set_quantity(conn, created.id, 2, prorate=False)
    assert down.quantity == 2
    assert (await gateway.get_subscription(conn, created.id)).quantity == 2

    # Stripe reports `trialing` here; localstripe leaves a trial subscription `incomplete`.
    cancelled = await gateway.cancel_subscription(conn, created.id)
    assert cancelled.status == "canceled"
    assert created.status != "canceled"
    assert (await gateway.get_subscription(conn, created.id)).status == "canceled"


async def test_add_invoice_item_next_invoice_carries_it(stripe_api: StripeApi) -> None:
    conn = stripe_api.connection()
    plan_id = await make_plan(conn, amount_cents=1000)
    customer_id = await make_customer(conn)
    subscription = await subscribe(conn, customer_id, plan_id, quantity=2)
    description = "3 extra counsellor hours, 2026-11"
    item_id = await gateway.add_invoice_item(
        conn,
        customer_id=customer_id,
        amount_cents=2500,
        currency="eur",
        description=description,
        idempotency_key=key("hours"),
    )
    assert item_id.startswith("ii_")
    assert await gateway.list_invoices(conn, customer_id) == []

    # Stripe invoices at the period's end on its own; localstripe is asked to do it now.
    async with httpx.AsyncClient(base_url=stripe_api.base_url, auth=(stripe_api.api_key, "")) as h:
        made = await h.post(
            "/v1/invoices", data={"customer": customer_id, "subscription": subscription.id}
        )
        lines = (await h.get(f"/v1/invoices/{made.json()['id']}/lines")).json()["data"]

    [invoice] = await gateway.list_invoices(conn, customer_id)
    assert invoice.id == made.json()["id"]
    assert (invoice.amount_due, invoice.currency) == (2 * 1000 + 2500, "eur")
    assert invoice.created.tzinfo is UTC
    assert {(line["description"], line["amount"]) for line in lines} >= {(description, 2500)}


async def test_list_invoices_other_customer_sees_none(stripe_api: StripeApi) -> None:
    conn = stripe_api.connection()
    plan_id = await make_plan(conn)
    billed = await make_customer(conn)
    other = await make_customer(conn, name="Bureau Zuid")
    subscription = await subscribe(conn, billed, plan_id, quantity=1)
    async with httpx.AsyncClient(base_url=stripe_api.base_url, auth=(stripe_api.api_key, "")) as h:
        await h.post("/v1/invoices", data={"customer": billed, "subscription": subscription.id})

    assert len(await gateway.list_invoices(conn, billed)) == 1
    assert await gateway.list_invoices(conn, other) == []


# --- webhooks --------------------------------------------------------------------------


@dataclass
class Delivery:
    body: bytes
    signature: str
    secret: str
    customer_id: str


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, self.headers.get("Stripe-Signature", "")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
async def delivered(localstripe_server: LocalStripe) -> AsyncIterator[Delivery]:
    """One `customer.created` event, as localstripe delivered it to a receiver on loopback."""
    received: list[tuple[bytes, str]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    webhook_id, secret = f"wh_{secrets.token_hex(4)}", f"whsec_{secrets.token_hex(16)}"
    url = f"http://127.0.0.1:{receiver.server_address[1]}/billing/webhooks/platform"
    localstripe_server.register_webhook(webhook_id, url, secret, ["customer.created"])
    try:
        conn = Connection(f"sk_test_{secrets.token_hex(8)}", localstripe_server.base_url)
        customer_id = await make_customer(conn)
        deadline = time.monotonic() + 10  # localstripe waits a second before it sends
        while time.monotonic() < deadline:
            mine = [(b, s) for b, s in received if customer_id.encode() in b]
            if mine:
                yield Delivery(mine[0][0], mine[0][1], secret, customer_id)
                return
            await asyncio.sleep(0.1)
        pytest.fail("localstripe delivered no customer.created webhook")
    finally:
        localstripe_server.register_webhook(webhook_id, url, secret, [])
        receiver.shutdown()
        receiver.server_close()


def test_verify_event_delivered_with_right_secret_accepted(delivered: Delivery) -> None:
    event = gateway.verify_event(delivered.body, delivered.signature, delivered.secret)

    assert event.id.startswith("evt_")
    assert (event.type, event.object_type) == ("customer.created", "customer")
    assert event.object_id == delivered.customer_id
    assert event.created.tzinfo is UTC


def test_verify_event_wrong_secret_raises(delivered: Delivery) -> None:
    with pytest.raises(SignatureInvalid):
        gateway.verify_event(delivered.body, delivered.signature, "whsec_not_ours")


def test_verify_event_tampered_body_raises(delivered: Delivery) -> None:
    tampered = delivered.body.replace(b"customer.created", b"customer.deleted")
    assert tampered != delivered.body
    with pytest.raises(SignatureInvalid):
        gateway.verify_event(tampered, delivered.signature, delivered.secret)


def sign(body: bytes, secret: str, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def test_verify_event_old_signature_raises(delivered: Delivery) -> None:
    old = int(time.time()) - 3600
    with pytest.raises(SignatureInvalid):
        gateway.verify_event(delivered.body, sign(delivered.body, delivered.secret, old), "x")
    with pytest.raises(SignatureInvalid):
        gateway.verify_event(
            delivered.body, sign(delivered.body, delivered.secret, old), delivered.secret
        )


@pytest.mark.parametrize(
    ("body", "header"),
    [(b"not json", "signed"), (b'{"id": "evt_1"}', "signed"), (b"{}", ""), (b"{}", "t=x,v1")],
)
def test_verify_event_malformed_raises(body: bytes, header: str) -> None:
    secret = "whsec_test"
    if header == "signed":
        header = sign(body, secret, int(time.time()))
    with pytest.raises(SignatureInvalid):
        gateway.verify_event(body, header, secret)


# --- what localstripe cannot show: headers, error classes, Stripe down --------------------


@dataclass
class Recorder:
    """A stand-in Stripe that records each request and answers with the queued replies."""

    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    port = free_port()
    rec = Recorder(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.do_POST()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec.requests.append((self.path, dict(self.headers), body))
            status, payload = rec.replies.pop(0)
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield rec
    server.shutdown()
    server.server_close()


async def test_create_customer_same_key_twice_sends_it_each_time(recorder: Recorder) -> None:
    """Stripe answers a repeated key with the first result; localstripe ignores the header,
    so what is checked is that the caller's key, the pinned version and the connection's
    own API key go out on every attempt."""
    conn = Connection("sk_test_recorded", recorder.url)
    recorder.replies = [(200, {"id": "cus_1", "object": "customer"})] * 2

    first = await make_customer_with_key(conn, "outbox-17")
    second = await make_customer_with_key(conn, "outbox-17")

    assert first == second == gateway.Customer("cus_1")
    assert [r[0] for r in recorder.requests] == ["/v1/customers"] * 2
    for _path, headers, _body in recorder.requests:
        assert headers["Idempotency-Key"] == "outbox-17"
        assert headers["Stripe-Version"] == gateway.API_VERSION
        assert headers["Authorization"] == "Bearer sk_test_recorded"


async def make_customer_with_key(conn: Connection, idempotency_key: str) -> gateway.Customer:
    return await gateway.create_customer(
        conn, name="Bureau Noord", email="a@b.example", metadata={}, idempotency_key=idempotency_key
    )


SUBSCRIPTION = {
    "id": "sub_1",
    "object": "subscription",
    "status": "trialing",
    "customer": "cus_1",
    "trial_end": 1_800_000_000,
    "items": {
        "object": "list",
        "data": [
            {
                "id": "si_1",
                "object": "subscription_item",
                "quantity": 4,
                "price": {"id": "plan_1", "object": "price"},
                "current_period_start": 1_790_000_000,
                "current_period_end": 1_800_000_000,
            }
        ],
    },
}


async def test_create_subscription_send_invoice_supported_asks_stripe_for_it(
    recorder: Recorder,
) -> None:
    recorder.replies = [(200, SUBSCRIPTION)]
    created = await subscribe(Connection("sk_test_x", recorder.url), "cus_1", "plan_1", 4)

    form = parse_qs(recorder.requests[0][2].decode())
    assert form["collection_method"] == ["send_invoice"]
    assert form["days_until_due"] == ["30"]
    assert (created.plan_id, created.quantity, created.status) == ("plan_1", 4, "trialing")
    assert created.current_period_end == datetime.fromtimestamp(1_800_000_000, UTC)


@pytest.mark.parametrize(("prorate", "behaviour"), [(True, "create_prorations"), (False, "none")])
async def test_set_quantity_proration_supported_sends_behaviour(
    recorder: Recorder, prorate: bool, behaviour: str
) -> None:
    recorder.replies = [(200, SUBSCRIPTION), (200, SUBSCRIPTION)]
    await gateway.set_quantity(Connection("sk_test_x", recorder.url), "sub_1", 7, prorate=prorate)

    update = parse_qs(recorder.requests[1][2].decode())
    assert update["proration_behavior"] == [behaviour]
    assert (update["items[0][id]"], update["items[0][quantity]"]) == (["si_1"], ["7"])


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_create_customer_server_trouble_raises_unavailable(
    recorder: Recorder, status: int
) -> None:
    recorder.replies = [(status, {"error": {"type": "api_error", "message": "Bureau Noord"}})]
    with pytest.raises(StripeUnavailable) as caught:
        await make_customer_with_key(Connection("sk_test_secret123", recorder.url), "k")
    assert caught.value.http_status == status
    assert "sk_test_secret123" not in str(caught.value)
    assert "Bureau Noord" not in str(caught.value)


async def test_create_customer_refused_raises_refused_with_code(recorder: Recorder) -> None:
    error = {"type": "invalid_request_error", "code": "email_invalid", "message": "Bureau Noord"}
    recorder.replies = [(400, {"error": error})]
    with pytest.raises(StripeRefused) as caught:
        await make_customer_with_key(Connection("sk_test_secret123", recorder.url), "k")
    assert (caught.value.code, caught.value.http_status) == ("email_invalid", 400)
    assert "sk_test_secret123" not in str(caught.value)
    assert "Bureau Noord" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_get_subscription_unknown_id_raises_refused(stripe_api: StripeApi) -> None:
    with pytest.raises(StripeRefused) as caught:
        await gateway.get_subscription(stripe_api.connection(), "sub_doesnotexist")
    assert caught.value.http_status == 404


async def test_connection_closed_port_raises_unavailable_quickly() -> None:
    conn = Connection("sk_test_down", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(StripeUnavailable) as caught:
        await gateway.get_subscription(conn, "sub_1")
    assert caught.value.http_status is None
    assert time.monotonic() - started < 5


def test_connection_repr_hides_api_key() -> None:
    conn = Connection("sk_live_verysecret", "https://api.stripe.example")
    assert "sk_live_verysecret" not in repr(conn)
    assert "sk_live_verysecret" not in str(conn)
    assert "api.stripe.example" in repr(conn)


def test_trial_end_for_is_the_same_all_day_and_at_least_the_days_asked():
    morning = datetime(2026, 12, 6, 0, 0, 1, tzinfo=UTC)
    evening = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC)
    assert gateway.trial_end_for(14, now=morning) == gateway.trial_end_for(14, now=evening)
    assert gateway.trial_end_for(14, now=evening) == datetime(2026, 12, 21, tzinfo=UTC)
    assert gateway.trial_end_for(14, now=evening) - evening >= timedelta(days=14)

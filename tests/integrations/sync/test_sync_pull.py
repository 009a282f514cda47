"""A sync pulls the partner's order changes and applies them through the partner API's
services: against the sandbox partner, or pytest-httpserver for exact answers."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from chargecars.wire import rfc3339
from integrations.models import OrderDrift, SyncRequest, SyncRunStatus, SyncTrigger
from integrations.sync.run import sync_run
from integrations.sync.sandbox.world import CANCELLED, PLANNED, RECEIVED
from orders.models import Order, OrderStatusChange, StatusChangeSource
from tests.integrations.sync.conftest import sandbox_integration

pytestmark = pytest.mark.django_db


def sync(integration, **kwargs):
    attempt = sync_run(integration=integration, trigger=SyncTrigger.MANUAL, **kwargs)
    assert attempt.run is not None, attempt.refused
    integration.refresh_from_db()
    return attempt.run


def record(pid, status="CONFIRMED", updated_at="2025-06-01T10:30:00Z", **fields):
    return {"partner_order_id": pid, "status": status, "updated_at": updated_at, **fields}


def feed(httpserver, *pages):
    """Serve ``pages`` (lists of records) in order with cursors c1, c2, ..."""
    for number, records in enumerate(pages, start=1):
        next_cursor = f"c{number}" if number < len(pages) else None
        httpserver.expect_ordered_request("/v1/orders", method="GET").respond_with_json(
            {"orders": records, "next_cursor": next_cursor}
        )


def test_first_sync_creates_the_partners_orders_with_their_statuses(sandbox):
    integration = sandbox_integration(sandbox)
    started = timezone.now()

    run = sync(integration)

    assert run.status == SyncRunStatus.SUCCEEDED
    assert run.records_pulled == run.records_created == 25
    orders = Order.objects.filter(source_integration=integration)
    assert orders.count() == 25
    by_partner_status = {RECEIVED: "new", PLANNED: "approved", CANCELLED: "cancelled"}
    for pid, partner_order in sandbox.world.orders.items():
        order = orders.get(partner_external_references__partner_order_id=pid)
        assert order.status == by_partner_status[partner_order.status]
        assert order.customer_name == partner_order.customer_name
        assert order.partner_external_references["dealer_group_id"] == partner_order.dealer_group_id
        assert order.partner_status_occurred_at == partner_order.updated_at
    history = OrderStatusChange.objects.filter(order__source_integration=integration)
    assert set(history.values_list("source", flat=True)) == {StatusChangeSource.SYNC}
    # last_sync_at is the start of the sync (the next one asks from there, minus the overlap)
    assert started <= integration.last_sync_at <= run.finished_at
    assert integration.last_sync_at == run.started_at
    # every HTTP request is logged: the token, then one page
    requests = list(SyncRequest.objects.filter(run=run).values_list("url", "status_code"))
    assert requests == [(f"{sandbox.url}/oauth/token", 200), (f"{sandbox.url}/orders", 200)]
    assert (run.http_requests, run.http_failures) == (2, 0)


def test_the_next_sync_asks_from_the_start_of_the_last_successful_one_minus_the_overlap(
    httpserver, feed_integration, settings
):
    settings.SYNC_OVERLAP_SECONDS = 60
    feed(httpserver, [])
    first = sync(feed_integration)
    feed(httpserver, [])

    sync(feed_integration)

    asked = [request.args["updated_since"] for request, _ in httpserver.log]
    assert asked == [
        "1970-01-01T00:00:00Z",
        rfc3339(first.started_at - timedelta(seconds=60)),
    ]
    assert httpserver.log[0][0].args["limit"] == "500"
    assert httpserver.log[0][0].headers["X-API-Key"] == "feed-key-0123456789"
    assert httpserver.log[0][0].headers["X-API-Version"] == "1.0"


def test_a_known_order_gets_its_references_and_status_and_an_older_record_changes_nothing(
    httpserver, feed_integration
):
    feed(httpserver, [record("VLV-1", "RECEIVED", "2025-06-01T10:00:00Z", customer_name="Jan")])
    sync(feed_integration)
    feed(
        httpserver,
        [
            record("VLV-1", "CONFIRMED", "2025-06-01T11:00:00Z", dealer_group_id="VAN_MOSSEL"),
            record("VLV-1", "RECEIVED", "2025-06-01T10:30:00Z"),  # late, older: stale
        ],
    )

    run = sync(feed_integration)

    order = Order.objects.get()
    assert order.status == "approved"
    assert order.partner_external_references["dealer_group_id"] == "VAN_MOSSEL"
    assert order.partner_status_occurred_at == datetime(2025, 6, 1, 11, tzinfo=UTC)
    assert (run.records_updated, run.records_stale, run.records_created) == (1, 1, 0)
    last = order.status_history.last()
    assert (last.from_status, last.to_status, last.source) == ("new", "approved", "sync")


def test_a_record_with_nothing_new_is_unchanged_and_writes_nothing(
    httpserver, feed_integration, django_assert_max_num_queries
):
    records = [record(f"VLV-{n}", "CONFIRMED", customer_name="Jan") for n in range(20)]
    feed(httpserver, records)
    sync(feed_integration)
    feed(httpserver, records)
    updated = list(Order.objects.order_by("pk").values_list("updated_at", flat=True))

    run = sync(feed_integration, full=True)

    assert run.records_unchanged == 20
    assert list(Order.objects.order_by("pk").values_list("updated_at", flat=True)) == updated


def test_a_status_our_engine_cannot_reach_is_drift_not_forced(httpserver, feed_integration):
    feed(httpserver, [record("VLV-1", "RECEIVED", "2025-06-01T10:00:00Z", customer_name="Jan")])
    sync(feed_integration)
    feed(httpserver, [record("VLV-1", "DELIVERED", "2025-06-01T12:00:00Z")])

    run = sync(feed_integration)

    order = Order.objects.get()
    assert order.status == "new"  # new -> completed is not one allowed transition
    assert run.records_drift == 1
    drift = OrderDrift.objects.get(order=order)
    assert (drift.partner_status, drift.partner_chargecars_status, drift.source) == (
        "DELIVERED",
        "completed",
        "sync",
    )
    assert drift.sync_run == run


def test_an_unknown_order_whose_status_is_out_of_reach_is_created_and_reported_as_drift(
    httpserver, feed_integration
):
    feed(httpserver, [record("VLV-9", "DELIVERED", customer_name="Jan")])

    run = sync(feed_integration)

    order = Order.objects.get()
    assert order.status == "new"
    assert (run.records_created, run.records_drift) == (1, 1)
    assert OrderDrift.objects.filter(order=order, partner_status="DELIVERED").exists()


def test_invalid_records_are_skipped_with_their_reason_and_the_rest_of_the_page_applies(
    httpserver, feed_integration
):
    feed(
        httpserver,
        [
            record("VLV-1", customer_name="Jan"),
            {"status": "CONFIRMED", "updated_at": "2025-06-01T10:30:00Z", "customer_name": "X"},
            record("VLV-3", "SHIPPED", customer_name="Piet"),
            record("VLV-4", customer_name="Kees", customer_email="not an email"),
            record("bad id/../x", customer_name="Anna"),
            record("VLV-6", updated_at="yesterday", customer_name="Els"),
            record("VLV-7", customer_name="Mila"),
        ],
    )

    run = sync(feed_integration)

    assert run.status == SyncRunStatus.SUCCEEDED
    assert (run.records_pulled, run.records_created, run.records_skipped) == (7, 2, 5)
    assert set(Order.objects.values_list("customer_name", flat=True)) == {"Jan", "Mila"}
    reasons = {item["partner_order_id"]: item["reason"] for item in run.skipped_records}
    assert reasons[""] == "partner_order_id is missing (read from 'partner_order_id')."
    assert reasons["VLV-3"].startswith("Unknown status 'SHIPPED': the status mapping accepts ")
    assert reasons["VLV-4"] == "customer_email: Enter a valid email address."
    assert "is not usable" in reasons["bad id/../x"]
    assert reasons["VLV-6"].startswith("updated_at must be an RFC 3339 time")
    assert {item["page"] for item in run.skipped_records} == {1}


def test_the_same_order_on_two_pages_and_twice_on_one_page_is_one_order(
    httpserver, feed_integration
):
    feed(
        httpserver,
        [
            record("VLV-1", "RECEIVED", "2025-06-01T10:00:00Z", customer_name="Jan"),
            record("VLV-1", "CONFIRMED", "2025-06-01T10:05:00Z", customer_name="Jan"),
        ],
        [record("VLV-1", "IN_PROGRESS", "2025-06-01T10:10:00Z", customer_name="Jan")],
    )

    run = sync(feed_integration)

    assert Order.objects.count() == 1
    assert Order.objects.get().status == "in_progress"
    assert (run.pages, run.records_created, run.records_updated) == (2, 1, 2)
    assert [request.args.get("cursor") for request, _ in httpserver.log] == [None, "c1"]


def test_a_custom_feed_mapping_reads_dotted_paths_page_numbers_and_unix_times(
    httpserver, feed_integration
):
    from integrations.models import FeedMapping

    FeedMapping.objects.create(
        integration=feed_integration,
        path="api/changes",
        paging="page",
        page_size=2,
        updated_since_param="since",
        limit_param="per_page",
        page_param="p",
        time_format="unix",
        extra_query={"kind": "installation"},
        items_key="data.items",
        field_mapping={
            "partner_order_id": "id",
            "status": "state.code",
            "updated_at": "modified",
            "customer_name": "customer.name",
            "charger_model": "lines.0.sku",
        },
    )

    def item(n, state):
        return {
            "id": f"ORD-{n}",
            "state": {"code": state},
            "modified": 1748773800 + n,
            "customer": {"name": f"Klant {n}"},
            "lines": [{"sku": "EASEE-ONE"}],
        }

    for page, items in (
        (1, [item(1, "RECEIVED"), item(2, "CONFIRMED")]),
        (2, [item(3, "RECEIVED")]),
    ):
        httpserver.expect_ordered_request(
            "/v1/api/changes",
            query_string={"kind": "installation", "since": "0", "per_page": "2", "p": str(page)},
        ).respond_with_json({"data": {"items": items}})

    run = sync(feed_integration)

    assert (run.status, run.pages, run.records_created) == ("succeeded", 2, 3)
    order = Order.objects.get(customer_name="Klant 2")
    assert (order.partner_order_id, order.status, order.charger_model) == (
        "ORD-2",
        "approved",
        "EASEE-ONE",
    )
    assert order.partner_status_occurred_at == datetime.fromtimestamp(1748773802, tz=UTC)


def test_records_made_by_the_partner_api_are_known_to_the_sync(partner, integration, httpserver):
    from tests.integrations.conftest import order_payload

    assert partner.create(order_payload(partner_order_id="VLV-1")).status_code == 201
    integration.api_base_url = httpserver.url_for("/v1")
    integration.save()
    feed(httpserver, [record("VLV-1", "CONFIRMED", customer_name="Jan")])

    run = sync(integration)

    assert (run.records_created, run.records_updated) == (0, 1)
    assert Order.objects.get().status == "approved"


def test_a_page_with_a_body_that_is_not_json_fails_the_run_naming_it(httpserver, feed_integration):
    httpserver.expect_request("/v1/orders").respond_with_data(
        "<html>maintenance</html>", content_type="text/html"
    )

    run = sync(feed_integration)

    assert run.status == SyncRunStatus.FAILED
    assert run.error.startswith("Page 1 is not JSON (text/html")
    assert "<html>maintenance</html>" in run.error
    feed_integration.refresh_from_db()
    assert feed_integration.last_sync_at is None
    assert feed_integration.last_error_message == f"Sync failed: {run.error}"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], "Page 1 is not the feed's JSON: expected an object with 'orders', got a JSON list."),
        ({"items": []}, "Page 1 is not the feed's JSON: it has no 'orders' (its keys: items)."),
        (
            {"orders": {}},
            "Page 1 is not the feed's JSON: 'orders' is a dict, not a list of records.",
        ),
        (
            {"orders": [], "next_cursor": 12.5},
            "Page 1: 'next_cursor' must be a string or null, not float.",
        ),
    ],
)
def test_a_page_not_in_the_contract_fails_the_run_saying_what_is_wrong(
    httpserver, feed_integration, body, error
):
    httpserver.expect_request("/v1/orders").respond_with_json(body)

    run = sync(feed_integration)

    assert (run.status, run.error) == (SyncRunStatus.FAILED, error)


def test_records_are_read_from_the_json_whatever_its_key_order(httpserver, feed_integration):
    body = json.dumps({"next_cursor": None, "orders": [record("VLV-1", customer_name="Jan")]})
    httpserver.expect_request("/v1/orders").respond_with_data(body, content_type="application/json")

    assert sync(feed_integration).records_created == 1

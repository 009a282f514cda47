"""Partner failures during a sync: handled, recorded, and never fatal to the worker; the
next run loses nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from integrations.models import SyncRequest, SyncRunStatus, SyncState
from integrations.sync.sandbox.world import World
from orders.models import Order
from tests.integrations.sync.conftest import sandbox_integration
from tests.integrations.sync.test_sync_pull import feed, record, sync

pytestmark = pytest.mark.django_db


def test_a_401_fetches_a_new_token_once_and_the_sync_goes_on(start_sandbox):
    sandbox = start_sandbox(orders=3)
    integration = sandbox_integration(sandbox)
    sync(integration)
    sandbox.tokens_revoke()  # the cached token stops working on the partner's side
    sandbox.world.order_new()

    run = sync(integration)

    assert run.status == SyncRunStatus.SUCCEEDED
    assert run.records_created == 1
    statuses = list(SyncRequest.objects.filter(run=run).values_list("url", "status_code"))
    assert statuses == [
        (f"{sandbox.url}/orders", 401),
        (f"{sandbox.url}/oauth/token", 200),
        (f"{sandbox.url}/orders", 200),
    ]
    assert (run.http_requests, run.http_failures) == (3, 1)


def test_credentials_the_partner_refuses_fail_the_run_with_the_reason(httpserver, feed_integration):
    httpserver.expect_request("/v1/orders").respond_with_json({"error": "bad key"}, status=403)

    run = sync(feed_integration)

    assert run.status == SyncRunStatus.FAILED
    assert run.error == (
        f"GET {httpserver.url_for('/v1/orders')} refused our api_key credentials (HTTP 403): "
        '{ "error": "bad key" }'
    )
    assert "feed-key" not in run.error


def test_429_and_5xx_are_retried_honouring_retry_after(httpserver, feed_integration, settings):
    settings.SYNC_HTTP_RETRIES = 3
    waits = []
    httpserver.expect_ordered_request("/v1/orders").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request("/v1/orders").respond_with_data("oops", status=503)
    httpserver.expect_ordered_request("/v1/orders").respond_with_json(
        {"orders": [record("VLV-1", customer_name="Jan")], "next_cursor": None}
    )
    started = timezone.now()

    run = sync(feed_integration)

    waits.append((timezone.now() - started).total_seconds())
    assert run.status == SyncRunStatus.SUCCEEDED
    assert run.records_created == 1
    assert waits[0] >= 1.0  # the partner's Retry-After, not our 0.01 s backoff
    codes = list(SyncRequest.objects.filter(run=run).values_list("status_code", "succeeded"))
    assert codes == [(429, False), (503, False), (200, True)]


def test_a_partner_failing_past_the_retries_fails_the_run_and_backs_off(
    httpserver, feed_integration, settings
):
    settings.SYNC_HTTP_RETRIES = 2
    httpserver.expect_request("/v1/orders").respond_with_data("down for maintenance", status=502)

    run = sync(feed_integration)

    assert run.status == SyncRunStatus.FAILED
    assert run.error == (
        f"Page 1: GET {httpserver.url_for('/v1/orders')} answered 502 3 times "
        "(last: down for maintenance)."
    )
    state = SyncState.objects.get(integration=feed_integration)
    assert state.consecutive_failures == 1
    assert timedelta(seconds=50) < state.not_before - run.finished_at <= timedelta(minutes=1)
    assert state.lease_token is None  # released


def test_a_retry_after_longer_than_we_wait_fails_the_run_and_holds_the_next_one_back(
    httpserver, feed_integration, settings
):
    settings.SYNC_RETRY_AFTER_MAX = 60
    httpserver.expect_request("/v1/orders").respond_with_response(
        Response("", status=429, headers={"Retry-After": "7200"})
    )

    run = sync(feed_integration)

    assert run.status == SyncRunStatus.FAILED
    assert "asking us to wait 7200 s (Retry-After)" in run.error
    state = SyncState.objects.get(integration=feed_integration)
    assert state.not_before - run.finished_at >= timedelta(seconds=7199)


def test_an_unreachable_partner_fails_the_run_without_raising(feed_integration, unused_tcp_port):
    feed_integration.api_base_url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    feed_integration.save()

    run = sync(feed_integration)

    assert run.status == SyncRunStatus.FAILED
    assert run.error.startswith(f"Page 1: GET http://127.0.0.1:{unused_tcp_port}/v1/orders failed:")
    # Not retried within the run (the next scheduled sync tries again, after its backoff).
    assert SyncRequest.objects.filter(run=run, status_code=None).count() == 1


def test_a_cursor_seen_twice_stops_the_run_as_failed(httpserver, feed_integration):
    for cursor in ("a", "b", "a"):
        httpserver.expect_ordered_request("/v1/orders").respond_with_json(
            {"orders": [], "next_cursor": cursor}
        )

    run = sync(feed_integration)

    assert run.status == SyncRunStatus.FAILED
    assert run.error == (
        "Page 3: the feed gave the cursor 'a' a second time; stopped so as not to read the "
        "same pages forever."
    )
    assert run.pages == 3


def test_a_run_that_reaches_max_pages_is_partial_and_the_next_one_goes_on(start_sandbox, settings):
    settings.SYNC_MAX_PAGES = 2
    sandbox = start_sandbox(orders=5)
    integration = sandbox_integration(sandbox, api_credentials=None, authentication_type="api_key")
    integration.api_credentials = {
        "client_id": "chargecars",
        "client_secret": "sandbox-client-secret-0123456789",
        "token_endpoint": f"{sandbox.url}/oauth/token",
    }
    integration.authentication_type = "oauth2"
    integration.save()
    from integrations.models import FeedMapping

    FeedMapping.objects.create(integration=integration, page_size=2)

    first = sync(integration)

    assert (first.status, first.pages, first.records_created) == (SyncRunStatus.PARTIAL, 2, 4)
    assert integration.last_sync_at is None  # the pass is not finished
    second = sync(integration)
    assert (second.status, second.resumed, second.records_created) == ("succeeded", True, 1)
    assert Order.objects.filter(source_integration=integration).count() == 5
    # The finished pass counts from the start of its first run.
    assert integration.last_sync_at == first.started_at
    assert second.updated_since == first.updated_since


def test_after_a_failure_mid_pagination_the_next_run_rereads_from_the_old_watermark(
    httpserver, feed_integration
):
    feed(httpserver, [record("VLV-0", customer_name="Jan")])
    first = sync(feed_integration)
    watermark = first.started_at - timedelta(seconds=60)
    httpserver.expect_ordered_request("/v1/orders").respond_with_json(
        {"orders": [record("VLV-1", customer_name="Ann")], "next_cursor": "p2"}
    )
    httpserver.expect_ordered_request("/v1/orders").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/v1/orders").respond_with_data("boom", status=500)
    httpserver.expect_ordered_request("/v1/orders").respond_with_data("boom", status=500)
    failed = sync(feed_integration)
    assert failed.status == SyncRunStatus.FAILED
    assert failed.records_created == 1  # page 1 was applied and stays
    feed(
        httpserver,
        [record("VLV-1", customer_name="Ann")],
        [record("VLV-2", customer_name="Bob")],
    )
    SyncState.objects.filter(integration=feed_integration).update(not_before=None)

    again = sync(feed_integration)

    assert again.status == SyncRunStatus.SUCCEEDED
    assert again.updated_since == watermark == failed.updated_since
    assert (again.records_unchanged, again.records_created) == (1, 1)
    assert sorted(Order.objects.values_list("customer_name", flat=True)) == ["Ann", "Bob", "Jan"]
    assert feed_integration.last_sync_at == again.started_at


def test_the_sandbox_feed_pages_in_order_and_an_order_moved_meanwhile_is_read_again():
    world = World(seed=3, orders=5)
    from datetime import UTC, datetime

    first, cursor = world.page(since=datetime(1970, 1, 1, tzinfo=UTC), limit=3, cursor=None)
    moved = world.order_move(first[0]["partner_order_id"], "INSTALL_PLANNED")
    rest, end = world.page(since=datetime(1970, 1, 1, tzinfo=UTC), limit=3, cursor=cursor)

    assert [r["partner_order_id"] for r in rest][-1] == moved.partner_order_id
    assert end is None
    assert len({r["partner_order_id"] for r in first + rest}) == 5

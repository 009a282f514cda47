"""A sync costs a constant number of queries per record, whatever the page holds."""

import pytest
from django.db import connection

from integrations.models import SyncRunStatus, SyncTrigger
from integrations.sync.run import sync_run
from tests.integrations.sync.test_sync_pull import feed, record

pytestmark = pytest.mark.django_db

# The run itself: lease, run row, mapping, progress, requests, closing (one transaction:
# in a test its savepoint and release count too).
PER_RUN = 25
# PostgreSQL numbers an order inside its INSERT; SQLite takes the number in a query first.
NUMBER = 0 if connection.vendor == "postgresql" else 1
PER_CREATE = 2 + NUMBER  # order, history
PER_CREATE_AND_MOVE = PER_CREATE + 2  # + history, status UPDATE (the row is ours: no lookup)
PER_UPDATE = 2  # history, status UPDATE (the page's orders were read and locked at once)


@pytest.mark.parametrize("n", [10, 200])
def test_creating_orders_costs_the_same_queries_per_record(
    httpserver, feed_integration, django_assert_max_num_queries, n
):
    feed(httpserver, [record(f"VLV-{i}", "RECEIVED", customer_name="Jan") for i in range(n)])

    with django_assert_max_num_queries(PER_RUN + PER_CREATE * n):
        run = sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL).run

    assert (run.status, run.records_created) == (SyncRunStatus.SUCCEEDED, n)


@pytest.mark.parametrize("n", [10, 200])
def test_creating_and_moving_orders_costs_the_same_queries_per_record(
    httpserver, feed_integration, django_assert_max_num_queries, n
):
    feed(httpserver, [record(f"VLV-{i}", "CONFIRMED", customer_name="Jan") for i in range(n)])

    with django_assert_max_num_queries(PER_RUN + PER_CREATE_AND_MOVE * n):
        run = sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL).run

    assert run.records_created == n


@pytest.mark.parametrize("n", [10, 200])
def test_updating_and_leaving_known_orders_costs_the_same_queries_per_record(
    httpserver, feed_integration, django_assert_max_num_queries, n
):
    records = [record(f"VLV-{i}", "RECEIVED", customer_name="Jan") for i in range(n)]
    feed(httpserver, records)
    sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL)
    moved = [record(f"VLV-{i}", "CONFIRMED", "2025-06-02T10:00:00Z") for i in range(n // 2)]
    feed(httpserver, moved + records[n // 2 :])

    with django_assert_max_num_queries(PER_RUN + PER_UPDATE * (n // 2)):
        run = sync_run(integration=feed_integration, trigger=SyncTrigger.MANUAL, full=True).run

    assert (run.records_updated, run.records_unchanged) == (n // 2, n - n // 2)

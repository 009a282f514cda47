"""Syncs racing each other and workers dying mid-sync, against the real database (own
connections per thread), a real Celery worker and a real partner server."""

import threading
import time

import pytest
from django.db import connection
from werkzeug import Response

from integrations.models import SyncRun, SyncRunStatus, SyncState, SyncTrigger
from integrations.sync.run import sync_run
from integrations.sync.tasks import integrations_sync_dispatch
from orders.models import Order
from tests.integrations.sync.conftest import sandbox_integration
from tests.integrations.test_tasks_worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real PostgreSQL: SQLite serialises every writer, so nothing races",
)


@needs_postgresql
def test_two_dispatchers_and_a_manual_sync_racing_give_exactly_one_run(start_sandbox, eager_celery):
    sandbox = start_sandbox(orders=40)
    integration = sandbox_integration(sandbox)
    start = threading.Barrier(3)
    errors = []

    def racer(work):
        try:
            start.wait()
            work()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    manual = lambda: sync_run(integration=integration, trigger=SyncTrigger.MANUAL)  # noqa: E731
    threads = [
        threading.Thread(target=racer, args=(work,))
        for work in (integrations_sync_dispatch, integrations_sync_dispatch, manual)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert SyncRun.objects.count() == 1
    assert SyncRun.objects.get().status == SyncRunStatus.SUCCEEDED
    assert Order.objects.filter(source_integration=integration).count() == 40


@needs_postgresql
def test_the_sync_and_the_partner_api_creating_the_same_orders_at_once_make_each_order_once(
    start_sandbox, client
):
    from tests.integrations.conftest import PartnerClient

    sandbox = start_sandbox(orders=60)
    integration = sandbox_integration(sandbox)
    partner = PartnerClient(client, integration)
    records = [order.record() for order in sandbox.world.orders.values()]
    errors = []

    def partner_api():
        try:
            for record in records:
                payload = {k: v for k, v in record.items() if k not in ("status", "updated_at")}
                assert partner.create(payload).status_code in (200, 201)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=partner_api)
    thread.start()
    run = sync_run(integration=integration, trigger=SyncTrigger.MANUAL).run
    thread.join(timeout=60)

    assert errors == []
    assert run.status == SyncRunStatus.SUCCEEDED
    assert Order.objects.filter(source_integration=integration).count() == 60


@pytest.mark.worker
def test_a_worker_killed_mid_sync_leaves_a_lease_that_expires_and_the_next_run_completes(
    workers, start_sandbox
):
    """Beat and worker in one process; the partner stalls on page 2 until it is killed."""
    import requests
    from pytest_httpserver import HTTPServer

    sandbox = start_sandbox(orders=30)
    stalled = threading.Event()
    httpserver = HTTPServer(host="127.0.0.1", threaded=True)
    httpserver.start()

    def page(request):
        # Pages from the sandbox; the second one hangs the first time.
        if request.args.get("cursor") and not stalled.is_set():
            stalled.set()
            time.sleep(8)
        upstream = requests.get(
            f"{sandbox.url}/orders",
            params=request.args,
            headers={"Authorization": request.headers.get("Authorization", "")},
            timeout=10,
        )
        return Response(
            upstream.content, status=upstream.status_code, content_type="application/json"
        )

    httpserver.expect_request("/orders").respond_with_handler(page)
    integration = sandbox_integration(sandbox, api_base_url=httpserver.url_for(""))
    from integrations.models import FeedMapping

    FeedMapping.objects.create(integration=integration, page_size=10)

    doomed = workers(beat=True, env={"SYNC_LEASE_SECONDS": "10", "SYNC_DISPATCH_INTERVAL": "1"})
    assert stalled.wait(30), doomed.output()[-3000:]
    doomed.kill()
    run = SyncRun.objects.get(integration=integration)
    assert run.status == SyncRunStatus.RUNNING
    assert Order.objects.filter(source_integration=integration).count() == 10  # page 1

    survivor = workers(beat=True, env={"SYNC_LEASE_SECONDS": "10", "SYNC_DISPATCH_INTERVAL": "1"})
    wait_for(
        lambda: SyncRun.objects.filter(integration=integration, status="succeeded").exists(),
        timeout=40,
        what="a sync to complete after the lease expired",
        worker=survivor,
    )

    run.refresh_from_db()
    assert run.status == SyncRunStatus.FAILED
    assert run.error.startswith("The sync stopped before it finished")
    assert Order.objects.filter(source_integration=integration).count() == 30  # none twice
    assert SyncState.objects.get(integration=integration).lease_token is None
    httpserver.stop()

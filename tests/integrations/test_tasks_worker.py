"""A real ``celery -A chargecars worker`` against a real Redis broker and the test database.

Shows that a delivery is never lost: queued while no worker runs, it goes out once one
starts; if the worker is killed in the middle of the POST, the dispatcher (beat) sends it
again after the claim's lease, with the same webhook-id.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.db import connection
from pytest_httpserver import HTTPServer
from werkzeug import Response

from chargecars.celery import app as celery_app
from integrations.models import DeliveryAttempt, DeliveryState, WebhookDelivery
from orders.services import order_create
from tests.factories import PartnerIntegrationFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(__file__).resolve().parents[2]
DEFAULT_BROKER = "redis://127.0.0.1:6379/5"


def broker_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith("redis") else DEFAULT_BROKER


@pytest.fixture
def redis_broker():
    url = broker_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs a Redis broker at {url} ({exc})")
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = url
    reset_connections()
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    yield url
    reset_connections()
    celery_app.conf.broker_url = previous


def reset_connections():
    """Make the test process's Celery app connect anew (to the broker now configured)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name:
            pytest.skip("the test database is in memory; a worker process cannot share it")
        return f"sqlite:///{name}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def partner():
    """A threaded partner server, so one slow answer does not block the next request."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


class Worker:
    def __init__(self, tmp_path, broker, *, beat: bool, env: dict | None = None):
        self.log = tmp_path / f"worker-{time.monotonic_ns()}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker,
            "PARTNER_ALLOW_PRIVATE_NETWORKS": "true",
            "WEBHOOK_CONNECT_TIMEOUT": "0.5",
            "WEBHOOK_READ_TIMEOUT": "1.5",
            "WEBHOOK_CLAIM_LEASE_SECONDS": "3",
            "WEBHOOK_DISPATCH_INTERVAL": "1",
            **(env or {}),
        }
        command = [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "chargecars",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            command += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
def workers(tmp_path, redis_broker):
    started: list[Worker] = []

    def start(*, beat: bool = False, env: dict | None = None) -> Worker:
        worker = Worker(tmp_path, redis_broker, beat=beat, env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(condition, *, timeout: float, what: str, worker: Worker | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    log = worker.output()[-3000:] if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


def new_order(partner):
    integration = PartnerIntegrationFactory(webhook_url=partner.url_for("/hook"))
    order = order_create(
        source="partner",
        integration=integration,
        customer_name="Jan de Vries",
        partner_external_references={"partner_order_id": "VLV-2025-789123"},
    )
    return integration, order


def test_a_delivery_queued_while_no_worker_runs_is_sent_once_one_starts(partner, workers):
    received = []
    partner.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: received.append(request.headers["webhook-id"]) or Response("ok")
    )

    _, order = new_order(partner)  # committed; the task waits in Redis
    delivery = WebhookDelivery.objects.get(order=order)
    time.sleep(0.5)
    assert received == []

    worker = workers()
    wait_for(lambda: received, timeout=20, what="the partner to receive it", worker=worker)
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).state == DeliveryState.SUCCEEDED,
        timeout=10,
        what="the delivery to be recorded",
        worker=worker,
    )

    assert received == [str(delivery.pk)]
    assert DeliveryAttempt.objects.filter(delivery=delivery, succeeded=True).count() == 1


def test_a_worker_killed_mid_delivery_leads_to_a_later_delivery_with_the_same_id(partner, workers):
    received = []
    first_arrived = threading.Event()

    def handler(request):
        received.append(request.headers["webhook-id"])
        if len(received) == 1:
            first_arrived.set()
            time.sleep(3)  # the worker is killed while it waits for this answer
        return Response("ok")

    partner.expect_request("/hook", method="POST").respond_with_handler(handler)
    doomed = workers()
    _, order = new_order(partner)
    delivery = WebhookDelivery.objects.get(order=order)

    assert first_arrived.wait(20), doomed.output()[-3000:]
    doomed.kill()
    assert WebhookDelivery.objects.get(pk=delivery.pk).state == DeliveryState.PENDING

    survivor = workers(beat=True)  # its beat runs the dispatcher once the lease runs out
    wait_for(
        lambda: WebhookDelivery.objects.get(pk=delivery.pk).state == DeliveryState.SUCCEEDED,
        timeout=25,
        what="the delivery to succeed after the kill",
        worker=survivor,
    )

    assert len(received) >= 2
    assert set(received) == {str(delivery.pk)}  # the same webhook-id: partners deduplicate
    assert DeliveryAttempt.objects.filter(delivery=delivery, succeeded=True).count() == 1
    lost = DeliveryAttempt.objects.filter(delivery=delivery, error_class="worker_lost")
    assert lost.count() == 1  # the killed try is in the attempt log

"""Outbound webhook throughput: one Celery worker process draining N deliveries to a fast
local sink, against the floor, a plain loop of signed ``requests.post`` calls over one
kept-alive session to the same sink, in the same run.

    make bench-outbound                      # N=5000 on the configured database
    BENCH_N=20000 DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... make bench-outbound

Uses DATABASE_URL (default: a throw-away SQLite file under var/; point it at a throw-away
database too, the worker sends whatever is due there) and CELERY_BROKER_URL (default:
redis://127.0.0.1:6379/5 when Redis answers, else kombu's filesystem transport).
BENCH_WORKER_LOGLEVEL=INFO shows each batch task in var/bench_outbound_worker.log;
BENCH_WORKER_POOL / BENCH_WORKER_CONCURRENCY (default threads / 2: one process whose two
threads overlap one batch's database writes with another's HTTP) choose the worker pool.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import Process
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
N = int(os.environ.get("BENCH_N", "5000"))
SINK_PORT = int(os.environ.get("BENCH_SINK_PORT", "18099"))


def _default_broker() -> str:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/5", socket_connect_timeout=0.5).ping()
        return "redis://127.0.0.1:6379/5"
    except Exception:
        return "filesystem://"


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chargecars.settings")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'bench_outbound.sqlite3'}")
os.environ.setdefault("CELERY_BROKER_URL", _default_broker())
os.environ["PARTNER_ALLOW_PRIVATE_NETWORKS"] = "true"
os.environ["DEBUG"] = "false"  # production-like: no per-query bookkeeping in the worker
os.environ.setdefault("LOG_LEVEL", "WARNING")
(BASE_DIR / "var").mkdir(exist_ok=True)


# --- The sink: a minimal keep-alive HTTP/1.1 server in its own process ----------------------


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        # One write per response: no Nagle / delayed-ACK stalls between headers and body.
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def log_message(self, *args):
        pass


def run_sink():
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", SINK_PORT), SinkHandler).serve_forever()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from chargecars.celery import app as celery_app
    from integrations.models import DeliveryState, WebhookDelivery
    from integrations.outbound.tasks import webhook_deliveries_dispatch
    from integrations.secrets import generate_webhook_secret
    from integrations.signing import signature_headers
    from tests.factories import PartnerIntegrationFactory

    call_command("migrate", verbosity=0)
    # Earlier bench runs' rows go; nothing else is touched (use a throw-away database).
    WebhookDelivery.objects.filter(integration__integration_name__startswith="bench_").delete()
    sink = Process(target=run_sink, daemon=True)
    sink.start()
    url = f"http://127.0.0.1:{SINK_PORT}/webhooks/chargecars"
    time.sleep(0.5)

    run = uuid.uuid4().hex[:8]
    integration = PartnerIntegrationFactory(
        integration_name=f"bench_{run}",
        partner_organization__name=f"Bench partner {run}",
        webhook_url=url,
        webhook_secret=generate_webhook_secret(),
    )
    now = timezone.now()

    def payload(n: int) -> dict:
        return {
            "type": "order_approved",
            "timestamp": now.isoformat(),
            "data": {
                "order_id": str(uuid.uuid4()),
                "order_number": f"CC-2025-{n:06d}",
                "sequence": 2,
                "status": "CONFIRMED",
                "chargecars_status": "approved",
                "previous_status": "RECEIVED",
                "previous_chargecars_status": "new",
                "partner_external_references": {"partner_order_id": f"VLV-{n}"},
                "source": "staff",
            },
        }

    # The floor: signed posts over one kept-alive session, nothing else.
    import requests

    secrets = [integration.webhook_secret]
    payloads = [payload(n) for n in range(N)]

    def floor_loop(*, trust_env: bool) -> float:
        session = requests.Session()
        session.trust_env = trust_env
        started = time.perf_counter()
        for message in payloads:
            body = json.dumps(message, separators=(",", ":"))
            headers = signature_headers(
                secrets=secrets, msg_id=str(uuid.uuid4()), timestamp=timezone.now(), body=body
            )
            headers["Content-Type"] = "application/json"
            response = session.post(url, data=body.encode(), headers=headers, timeout=(5, 15))
            assert response.status_code == 200
        session.close()
        return N / (time.perf_counter() - started)

    floor = floor_loop(trust_env=True)  # a plain requests.Session()
    # Our sessions set trust_env=False (no proxy/.netrc pick-up), which also skips requests'
    # per-call environment lookups: this floor makes the same saving, so it is the strict one.
    strict_floor = floor_loop(trust_env=False)

    # Ours: N outbox rows, one worker process, the dispatcher claiming batches.
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                integration=integration,
                event="order_approved",
                payload=payload(n),
                next_attempt_at=now,
            )
            for n in range(N)
        ],
        batch_size=1000,
    )
    if django.db.connection.vendor == "postgresql":
        # Steady state, not the previous run's dead rows: what autovacuum gives production.
        with django.db.connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE webhook_deliveries")
            cursor.execute("VACUUM ANALYZE webhook_delivery_attempts")
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    log = BASE_DIR / "var" / "bench_outbound_worker.log"
    worker = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "chargecars",
            "worker",
            "--pool",
            os.environ.get("BENCH_WORKER_POOL", "threads"),
            "--concurrency",
            os.environ.get("BENCH_WORKER_CONCURRENCY", "2"),
            "--loglevel",
            os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=BASE_DIR,
        env=os.environ.copy(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        time.sleep(3)  # worker start-up is not measured
        cpu_before = _cpu_seconds(worker.pid)
        started = time.perf_counter()
        webhook_deliveries_dispatch.delay()
        # Indexed (state) and cheap: the poll must not steal CPU from the worker.
        pending = WebhookDelivery.objects.filter(
            integration=integration, state=DeliveryState.PENDING
        )
        deadline = time.monotonic() + max(120, N / 50)
        next_tick = time.monotonic() + 1
        while pending.exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out; see {log}")
            if time.monotonic() > next_tick:  # what beat does, every second here
                webhook_deliveries_dispatch.delay()
                next_tick += 1
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        ours = N / elapsed
        worker_cpu = (_cpu_seconds(worker.pid) - cpu_before) / elapsed
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        sink.terminate()

    engine = django.db.connection.vendor
    broker = os.environ["CELERY_BROKER_URL"].split("://")[0]
    pool = os.environ.get("BENCH_WORKER_POOL", "threads")
    concurrency = os.environ.get("BENCH_WORKER_CONCURRENCY", "2")
    print(
        f"outbound webhooks, N={N}, database={engine}, broker={broker}, "
        f"one worker process (--pool {pool} --concurrency {concurrency})"
    )
    print(f"  floor: signed requests.post loop, plain Session  {floor:8.0f} deliveries/s")
    print(f"  floor: same, Session(trust_env=False) as ours    {strict_floor:8.0f} deliveries/s")
    print(f"  outbox -> 1 Celery worker process:               {ours:8.0f} deliveries/s")
    print(f"  ratio: {ours / floor:.2f} of the plain floor (target >= 0.70), ", end="")
    print(f"{ours / strict_floor:.2f} of the trust_env=False floor")
    print(f"  worker process CPU use while draining: {worker_cpu:.0%} of one core")


if __name__ == "__main__":
    main()

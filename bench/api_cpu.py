"""CPU per partner API request, in-process: where `make bench` time goes, without gunicorn.

Run after `make bench` (it reuses the bench database and its integration):

    .venv/bin/python bench/api_cpu.py            # API: half creates, half status updates
    BENCH_CPU_ONLY=create .venv/bin/python bench/api_cpu.py   # API creates only (or status)
    BENCH_CPU_TARGET=floor .venv/bin/python bench/api_cpu.py  # or typical, or lean
    BENCH_CPU_PROFILE=var/api.prof .venv/bin/python bench/api_cpu.py  # + cProfile (CPU time)

Calls the WSGI application directly with freshly signed requests and prints this process's
CPU time and its PostgreSQL backend's CPU time per request (from /proc), and the wall time.
"""

import cProfile
import io
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.api_bench import bench_env  # noqa: E402

COUNT = int(os.environ.get("BENCH_CPU_REQUESTS", "2000"))
WARM_UP = 50
# api, floor, typical or lean (the last two create orders only, as in `make bench`).
TARGET = os.environ.get("BENCH_CPU_TARGET", "api")
# Requests for the API: "create", "status", or both alternately (the default).
ONLY = os.environ.get("BENCH_CPU_ONLY", "")
if TARGET not in ("api", "floor", "typical", "lean") or ONLY not in ("", "create", "status"):
    raise SystemExit("BENCH_CPU_TARGET: api|floor|typical|lean; BENCH_CPU_ONLY: create|status")
PROFILE = os.environ.get("BENCH_CPU_PROFILE", "")


def signed_requests(webhook, pending_orders: list[str]) -> list[tuple[str, dict, bytes]]:
    now = datetime.now(tz=UTC)
    run = uuid.uuid4().hex[:8]
    base = "/api/v1/partners/bench_partner/orders/"
    requests = []
    for i in range(COUNT):
        if (i % 2 == 0 or ONLY == "create") and ONLY != "status":
            path, data = (
                base,
                {
                    "partner_order_id": f"CPU-{run}-{i}",
                    "partner_customer_id": f"CUST-{i}",
                    "dealer_group_id": "VAN_MOSSEL_WEST",
                    "purchase_order_number": f"PO-{i}",
                    "customer_name": "Sanne de Vries",
                    "customer_email": "sanne@example.nl",
                    "installation_city": "Utrecht",
                },
            )
        else:
            partner_order_id = pending_orders[i if ONLY else i // 2]
            path = f"{base}{partner_order_id}/status/"
            data = {"status": "CONFIRMED", "occurred_at": "2025-06-01T10:30:00Z"}
        if TARGET == "floor":
            path, data = "/bench/floor/", {"partner_order_id": f"FLOOR-{run}-{i}", **data}
        elif TARGET in ("typical", "lean"):
            path = "/bench/typical/" if TARGET == "typical" else "/bench/lean/bench_partner/"
            data = {
                "partner_order_id": f"{TARGET.upper()}-{run}-{i}",
                "customer_name": "Sanne de Vries",
                "customer_email": "sanne@example.nl",
                "installation_city": "Utrecht",
            }
        body = json.dumps(data)
        msg_id = f"msg_{uuid.uuid4().hex}"
        headers = {
            "HTTP_WEBHOOK_ID": msg_id,
            "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
            "HTTP_WEBHOOK_SIGNATURE": webhook.sign(msg_id, now, body),
        }
        requests.append((path, headers, body.encode()))
    return requests


def main() -> None:
    os.environ.update(bench_env())
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from standardwebhooks.webhooks import Webhook

    from integrations.models import PartnerIntegration

    application = get_wsgi_application()
    integration = PartnerIntegration.objects.get(integration_name="bench_partner")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partner_external_references->>'partner_order_id' FROM orders "
            "WHERE status = 'new' AND partner_external_references->>'partner_order_id' "
            "LIKE 'PRE-%%' LIMIT %s",
            [COUNT],
        )
        pending_orders = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT pg_backend_pid()")
        (backend_pid,) = cursor.fetchone()
    if len(pending_orders) < (COUNT if ONLY == "status" else COUNT // 2):
        raise SystemExit("Not enough orders in status new left: run `make bench` again.")
    requests = signed_requests(Webhook(integration.webhook_secret), pending_orders)

    def call(path: str, headers: dict, body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            **headers,
        }
        status = []
        b"".join(application(environ, lambda s, h, *a: status.append(s)))
        if not status[0].startswith("20"):
            raise SystemExit(f"{path}: {status[0]}")

    def backend_cpu() -> float:
        fields = Path(f"/proc/{backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    for request in requests[:WARM_UP]:
        call(*request)
    measured = requests[WARM_UP:]
    profiler = cProfile.Profile(time.process_time) if PROFILE else None
    if profiler:
        profiler.enable()
    backend_before = backend_cpu()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    for request in measured:
        call(*request)
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    backend = backend_cpu() - backend_before
    if profiler:
        profiler.disable()
        profiler.dump_stats(PROFILE)
    n = len(measured)
    print(
        f"{TARGET}: {n} requests; per request: process CPU "
        f"{1000 * cpu / n:.2f} ms, PostgreSQL backend CPU {1000 * backend / n:.2f} ms, "
        f"wall {1000 * wall / n:.2f} ms" + (" (cProfile on: CPU inflated)" if profiler else "")
    )


if __name__ == "__main__":
    main()

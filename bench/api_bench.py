"""`make bench`: the partner API under gunicorn + PostgreSQL, against a bare Django floor.

1. (Re)creates the PostgreSQL database BENCH_DATABASE_URL (default .../bench), migrates.
2. Creates an integration and pre-creates orders for the status updates.
3. Pre-signs unique requests (half order creations, half status updates) into a file that
   wrk replays with bench/requests.lua, so the load generator spends no CPU on HMAC.
4. Starts gunicorn (2 workers) on 127.0.0.1 and runs wrk against the API, then against the
   floor view (parse the body, one INSERT) with the same bodies, then against a typical
   DRF endpoint (verify, validate, one ModelSerializer create) for reference.
5. Prints requests/s, p50 and p99 for each and the ratios to the floor.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
DURATION = int(os.environ.get("BENCH_SECONDS", "6"))  # per round and side
# API and floor alternate in short rounds so background load hits both alike.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
# Enough unique requests for the run at well above the expected rate.
REQUESTS = int(os.environ.get("BENCH_REQUESTS_COUNT", "60000"))
# BENCH_LEAN=1 adds bench/lean.py's one-statement create as a fourth side (an experiment).
SIDES = ("api", "floor", "typical") + (("lean",) if os.environ.get("BENCH_LEAN") else ())
WARM_UP_REQUESTS = 200  # of each kind, sent before the rounds and not measured
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench")
CACHE_URL = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/3")
WORK = ROOT / "var" / "bench"


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def recreate_database() -> None:
    import psycopg

    parts = urlsplit(DATABASE_URL)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DATABASE_URL=DATABASE_URL,
        CACHE_URL=CACHE_URL,
        DEBUG="false",
        DATABASE_CONN_MAX_AGE="600",
        # Counted on every request (one Redis round trip) but never reached.
        PARTNER_API_RATE_LIMIT="100000000/minute",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def prepare(n_requests: int) -> tuple[list[tuple[str, ...]], list[tuple[Path, ...]]]:
    """Migrate, create the integration and orders, write the signed request files."""
    os.environ.update(bench_env())
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from standardwebhooks.webhooks import Webhook

    from bench.floor import FLOOR_TABLE_SQL
    from integrations.models import InboundEvent, PartnerIntegration
    from orders.models import Order, OrderNumber, OrderStatusChange
    from organizations.models import Organization
    from tests.factories import VOLVO_STATUS_MAPPING

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_TABLE_SQL)
    organization = Organization.objects.create(
        name="Bench dealer", organization_type="partner_dealer"
    )
    from integrations.secrets import generate_webhook_secret

    integration = PartnerIntegration.objects.create(
        partner_organization=organization,
        integration_name="bench_partner",
        webhook_secret=generate_webhook_secret(),
        status_mapping=VOLVO_STATUS_MAPPING,
        webhook_events=[],
    )
    creates = n_requests // 2
    updates = n_requests - creates
    log(f"pre-creating {updates} orders for the status updates")
    numbers = OrderNumber.objects.bulk_create([OrderNumber() for _ in range(updates)])
    orders = Order.objects.bulk_create(
        [
            Order(
                order_number=f"CC-BENCH-{number.pk:07d}",
                source_integration=integration,
                customer_name="Bench Customer",
                partner_external_references={
                    "partner_order_id": f"PRE-{i}",
                    "partner_system": "bench_partner",
                },
            )
            for i, number in enumerate(numbers)
        ],
        batch_size=2000,
    )
    # Made by the partner API, as in a running system: each order has its creation event.
    # (Tables analysed while empty would also mislead the planner: the history -> event
    # foreign-key check, planned on an empty event table, scans it and slows every round.)
    events = InboundEvent.objects.bulk_create(
        [
            InboundEvent(
                integration=integration,
                action=InboundEvent.Action.ORDER_CREATE,
                webhook_id=f"msg_pre_{i}",
                method="POST",
                path="/api/v1/partners/bench_partner/orders/",
                headers={"content-type": "application/json"},
                body=json.dumps({"partner_order_id": f"PRE-{i}"}),
                signature_verdict=InboundEvent.Verdict.VALID,
                outcome=InboundEvent.Outcome.CREATED,
                response_status=201,
                response_body={"partner_order_id": f"PRE-{i}"},
                partner_order_id=f"PRE-{i}",
                order=o,
            )
            for i, o in enumerate(orders)
        ],
        batch_size=2000,
    )
    OrderStatusChange.objects.bulk_create(
        [
            OrderStatusChange(
                order=o,
                from_status="",
                to_status="new",
                source="partner",
                integration=integration,
                inbound_event=event,
            )
            for o, event in zip(orders, events, strict=True)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")  # not in the middle of the first round

    webhook = Webhook(integration.webhook_secret)
    now = datetime.now(tz=UTC)
    timestamp = str(int(now.timestamp()))
    base = "/api/v1/partners/bench_partner/orders/"
    log(f"signing {n_requests} requests")

    def lean_line(partner_order_id: str) -> str:
        """The lean side creates orders only, as the typical side does."""
        if "lean" not in SIDES:
            return ""
        body = json.dumps(
            {
                "partner_order_id": partner_order_id,
                "customer_name": "Sanne de Vries",
                "customer_email": "sanne@example.nl",
                "installation_city": "Utrecht",
            }
        )
        msg_id = f"msg_{uuid.uuid4().hex}"
        return (
            f"POST\t/bench/lean/bench_partner/\t{msg_id}\t{timestamp}\t"
            f"{webhook.sign(msg_id, now, body)}\t{body}\n"
        )

    lines: list[tuple[str, ...]] = []
    for i in range(max(creates, updates)):
        if i < creates:
            body = json.dumps(
                {
                    "partner_order_id": f"BENCH-{i}",
                    "partner_customer_id": f"CUST-{i}",
                    "dealer_group_id": "VAN_MOSSEL_WEST",
                    "purchase_order_number": f"PO-{i}",
                    "customer_name": "Sanne de Vries",
                    "customer_email": "sanne@example.nl",
                    "installation_city": "Utrecht",
                }
            )
            msg_id = f"msg_{uuid.uuid4().hex}"
            signature = webhook.sign(msg_id, now, body)
            lines.append(
                (
                    f"POST\t{base}\t{msg_id}\t{timestamp}\t{signature}\t{body}\n",
                    f"POST\t/bench/floor/\t{msg_id}\t{timestamp}\t{signature}\t{body}\n",
                    f"POST\t/bench/typical/\t{msg_id}\t{timestamp}\t{signature}\t{body}\n",
                    lean_line(f"LEAN-{i}"),
                )
            )
        if i < updates:
            body = json.dumps({"status": "CONFIRMED", "occurred_at": "2025-06-01T10:30:00Z"})
            msg_id = f"msg_{uuid.uuid4().hex}"
            signature = webhook.sign(msg_id, now, body)
            floor_body = json.dumps({"partner_order_id": f"PRE-{i}", **json.loads(body)})
            floor_signature = webhook.sign(msg_id, now, floor_body)
            lines.append(
                (
                    f"POST\t{base}PRE-{i}/status/\t{msg_id}\t{timestamp}\t{signature}\t{body}\n",
                    f"POST\t/bench/floor/\t{msg_id}\t{timestamp}\t{signature}\t{floor_body}\n",
                    f"POST\t/bench/typical/\t{msg_id}\t{timestamp}\t{floor_signature}\t"
                    f"{floor_body}\n",
                    lean_line(f"LEAN-U{i}"),
                )
            )
    warm_up, lines = lines[:WARM_UP_REQUESTS], lines[WARM_UP_REQUESTS:]
    files = []
    per_round = len(lines) // ROUNDS
    for r in range(ROUNDS):
        chunk = lines[r * per_round : (r + 1) * per_round]
        round_files = []
        for index, side in enumerate(SIDES):
            path = WORK / f"{side}_{r}.tsv"
            path.write_text("".join(line[index] for line in chunk))
            round_files.append(path)
        files.append(tuple(round_files))
    connection.close()
    return warm_up, files


def send_warm_up(port: int, warm_up: list[tuple[str, ...]]) -> None:
    """Each worker's first requests (imports, statements prepared, caches filled) are slow;
    send them before measuring."""

    def send(line: str) -> None:
        _method, path, msg_id, timestamp, signature, body = line.rstrip("\n").split("\t", 5)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=body.encode(),
            headers={
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": timestamp,
                "webhook-signature": signature,
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        list(pool.map(send, [line for lines in warm_up for line in lines if line]))


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on {port}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def parse_wrk(output: str) -> dict:
    def ms(value: str) -> float:
        number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
        return float(number) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    # Anchored: the Stdev column (e.g. "97.99%") must not pass for a percentile line.
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "requests": total,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def run_wrk(port: int, request_file: Path, label: str) -> dict:
    env = dict(os.environ, BENCH_REQUESTS=str(request_file), BENCH_THREADS=str(THREADS))
    command = [
        shutil.which("wrk") or "/usr/bin/wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{DURATION}s",
        "--latency",
        "-s",
        str(ROOT / "bench" / "requests.lua"),
        f"http://127.0.0.1:{port}",
    ]
    log(f"{label}: {' '.join(command[1:])}")
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    (WORK / f"wrk_{label}.txt").write_text(output)
    return parse_wrk(output)


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    log(f"database {DATABASE_URL}, cache {CACHE_URL}")
    recreate_database()
    warm_up, files = prepare(REQUESTS + WARM_UP_REQUESTS)
    port = free_port()
    gunicorn = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "chargecars.wsgi",
            f"--workers={WORKERS}",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
            "--backlog=2048",
            *os.environ.get("BENCH_GUNICORN_ARGS", "").split(),
        ],
        env=bench_env(),
        cwd=ROOT,
    )
    try:
        wait_for_port(port)
        send_warm_up(port, warm_up)
        rounds = [
            {
                side: run_wrk(port, path, f"{side}{r}")
                for side, path in zip(SIDES, round_files, strict=True)
            }
            for r, round_files in enumerate(files)
        ]
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)

    os.environ.update(bench_env())
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT outcome, count(*) FROM partner_inbound_events GROUP BY 1 ORDER BY 1")
        outcomes = dict(cursor.fetchall())
    connection.close()
    del django

    print()
    print(f"{'':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'non-2xx':>8}")
    ratios: dict[str, list[float]] = {side: [] for side in SIDES if side != "floor"}
    for r, results in enumerate(rounds):
        for side, result in results.items():
            print(
                f"{f'{side} #{r + 1}':10} {result['rps']:9.1f} {result['p50']:8.2f} "
                f"{result['p99']:8.2f} {result['requests']:9d} {result['non2xx']:8d}"
            )
        floor_rps = results["floor"]["rps"]
        for side, side_ratios in ratios.items():
            side_ratios.append(results[side]["rps"] / floor_rps if floor_rps else 0.0)
        if max(result["requests"] for result in results.values()) > REQUESTS // ROUNDS:
            print("warning: wrk replayed requests (raise BENCH_REQUESTS_COUNT)")

    def summary(side: str) -> str:
        per_round = ratios[side]
        median = sorted(per_round)[len(per_round) // 2]
        return f"per round: {', '.join(f'{x:.2f}' for x in per_round)}; median {median:.2f}"

    api_p99 = sorted(results["api"]["p99"] for results in rounds)[len(rounds) // 2]
    print(
        f"ratio api/floor {summary('api')} (target >= 0.60); median api p99 {api_p99:.1f} ms "
        "(target < 50)"
    )
    print(
        "for reference, a typical DRF endpoint (verify, validate, one ModelSerializer create) "
        + summary("typical")
    )
    if "lean" in ratios:
        print("experiment: bench/lean.py, a create in one statement " + summary("lean"))
    print(f"inbound event outcomes: {outcomes}")


if __name__ == "__main__":
    main()

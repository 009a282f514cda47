"""`make bench-sync`: one sync of N partner orders from the sandbox partner's feed (pages of
500) into an empty PostgreSQL database, and the partner API's creates/s in the same run.

1. Full sync: 10,000 orders (BENCH_SYNC_ORDERS), wall time, records/s, peak RSS.
2. Bounded memory: the same with 100,000 orders; peak RSS within 1.2x of the 10,000 run.
3. Unchanged sync: the 10,000 again where nothing changed (a full re-read, every record
   found unchanged), and the incremental sync that follows (nothing new since).
4. Against the partner API: records/s of the full sync divided by the creates/s of the
   partner API (gunicorn, 2 workers, wrk replaying pre-signed creates), target >= 2.

Each sync runs in its own process (`--child`), which reports its own peak RSS; the sandbox
partner (`manage.py run_partner_sandbox --orders N`) runs in another. The integrations
subscribe to every webhook event and sync hourly, as a batched partner would: each new
order writes its outbox row, for the sync and the partner API alike.
"""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_sync")
SIZES = [int(n) for n in os.environ.get("BENCH_SYNC_ORDERS", "10000,100000").split(",")]
API_SECONDS = int(os.environ.get("BENCH_SECONDS", "6"))
API_REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "20000"))
# BENCH_SYNC_WEBHOOKS=0: the integrations subscribe to no event (no outbox rows), as in
# `make bench-api`.
WEBHOOKS = os.environ.get("BENCH_SYNC_WEBHOOKS", "1") != "0"
WORK = ROOT / "var" / "bench"
CLIENT_ID, CLIENT_SECRET = "bench", "bench-sandbox-secret-0123456789"
WEBHOOK_SECRET = "whsec_" + "QmVuY2hTYW5kYm94V2ViaG9va1NlY3JldDAxMjM0NTY3"


def log(message: str) -> None:
    print(f"[bench-sync] {message}", flush=True)


def child_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chargecars.settings",
        "DATABASE_URL": DATABASE_URL,
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "PARTNER_ALLOW_PRIVATE_NETWORKS": "true",
        "DATABASE_CONN_MAX_AGE": "600",
        "PARTNER_API_RATE_LIMIT": "0",
        "PYTHONPATH": str(ROOT),
    }


def fresh_database() -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(DATABASE_URL)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parts.path.lstrip("/")}"')
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=child_env(), check=True)


# --- In a child process: one sync, measured -------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (the sync's, or its PostgreSQL backend's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def integration_for(name: str, sandbox_url: str):
    """The bench's integration (made once): the sandbox partner, subscribed to every event,
    synced hourly, so each new order writes its outbox row as a batched partner's would."""
    from integrations.config import WEBHOOK_EVENTS
    from integrations.models import PartnerIntegration
    from integrations.sync.sandbox.world import SANDBOX_STATUS_MAPPING
    from organizations.models import Organization

    integration = PartnerIntegration.objects.filter(integration_name=name).first()
    if integration is not None:
        return integration
    organization = Organization.objects.create(name=name, organization_type="partner_other")
    return PartnerIntegration.objects.create(
        partner_organization=organization,
        integration_name=name,
        api_base_url=sandbox_url,
        authentication_type="oauth2",
        api_credentials={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token_endpoint": f"{sandbox_url}/oauth/token",
        },
        webhook_url=f"{sandbox_url}/webhooks",
        webhook_secret=WEBHOOK_SECRET,
        webhook_events=list(WEBHOOK_EVENTS) if WEBHOOKS else [],
        status_mapping=SANDBOX_STATUS_MAPPING,
        sync_frequency="hourly",
    )


def child(name: str, sandbox_url: str, full: bool) -> None:
    import django

    django.setup()
    from django.db import connection

    from integrations.models import SyncTrigger
    from integrations.sync.run import sync_run

    integration = integration_for(name, sandbox_url)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu_before, pg_before = _cpu_seconds(os.getpid()), _cpu_seconds(backend)
    started = time.perf_counter()
    run = sync_run(integration=integration, trigger=SyncTrigger.MANUAL, full=full).run
    wall = time.perf_counter() - started
    cpu, pg_cpu = _cpu_seconds(os.getpid()) - cpu_before, _cpu_seconds(backend) - pg_before
    print(
        json.dumps(
            {
                "status": run.status,
                "wall": wall,
                "pulled": run.records_pulled,
                "created": run.records_created,
                "updated": run.records_updated,
                "unchanged": run.records_unchanged,
                "drift": run.records_drift,
                "skipped": run.records_skipped,
                "pages": run.pages,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "cpu": cpu,
                "pg_cpu": pg_cpu,
            }
        )
    )


def measure(name: str, sandbox_url: str, *, full: bool = False) -> dict:
    command = [PYTHON, __file__, "--child", name, sandbox_url] + (["--full"] if full else [])
    done = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded":
        raise SystemExit(f"the sync did not succeed: {result}")
    return result


def start_sandbox(orders: int):
    from bench.api_bench import free_port, wait_for_port

    port = free_port()
    process = subprocess.Popen(
        [
            PYTHON,
            "manage.py",
            "run_partner_sandbox",
            f"--port={port}",
            f"--orders={orders}",
            f"--client-id={CLIENT_ID}",
            f"--client-secret={CLIENT_SECRET}",
            f"--webhook-secret={WEBHOOK_SECRET}",
        ],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(port, timeout=120)
    return process, f"http://127.0.0.1:{port}"


def stop(process) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


# --- The partner API's creates/s -------------------------------------------------------------


def _signed_creates(integration) -> list[str]:
    """Pre-signed order creations, one per line as bench/requests.lua replays them."""
    from standardwebhooks.webhooks import Webhook

    webhook = Webhook(integration.webhook_secret)
    now = datetime.now(tz=UTC)
    stamp = str(int(now.timestamp()))
    path = f"/api/v1/partners/{integration.integration_name}/orders/"
    lines = []
    for i in range(API_REQUESTS):
        body = json.dumps(
            {
                "partner_order_id": f"API-{i}",
                "customer_name": "Sanne de Vries",
                "customer_email": f"sanne.{i}@example.nl",
                "installation_city": "Utrecht",
                "vehicle_model": "Volvo EX30",
                "dealer_group_id": "VAN_MOSSEL_WEST",
            }
        )
        msg_id = f"msg_{uuid.uuid4().hex}"
        signature = webhook.sign(msg_id, now, body)
        lines.append(f"POST\t{path}\t{msg_id}\t{stamp}\t{signature}\t{body}\n")
    return lines


def api_creates_per_second(sandbox_url: str) -> dict:
    from bench.api_bench import free_port, parse_wrk, wait_for_port

    os.environ.update(child_env())
    import django

    django.setup()
    from django.db import connection

    lines = _signed_creates(integration_for("bench_api_side", sandbox_url))
    connection.close()
    warm, measured = WORK / "sync_api_warm.tsv", WORK / "sync_api.tsv"
    warm.write_text("".join(lines[:300]))
    measured.write_text("".join(lines[300:]))
    port = free_port()
    gunicorn = subprocess.Popen(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            "chargecars.wsgi",
            "--workers=2",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=child_env(),
    )
    try:
        wait_for_port(port)

        def wrk(requests_file: Path, seconds: int) -> dict:
            env = dict(os.environ, BENCH_REQUESTS=str(requests_file), BENCH_THREADS="2")
            output = subprocess.run(
                [
                    shutil.which("wrk") or "/usr/bin/wrk",
                    "-t2",
                    "-c4",
                    f"-d{seconds}s",
                    "--latency",
                    "-s",
                    str(ROOT / "bench" / "requests.lua"),
                    f"http://127.0.0.1:{port}",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return parse_wrk(output)

        wrk(warm, 1)  # imports, prepared statements, caches: not measured
        return wrk(measured, API_SECONDS)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    log(f"database {DATABASE_URL}; sizes {SIZES}; webhook events subscribed: {WEBHOOKS}")
    full: dict[int, dict] = {}
    unchanged = incremental = None
    api = None
    for n in SIZES:
        fresh_database()
        sandbox, url = start_sandbox(n)
        try:
            log(f"full sync of {n} orders")
            full[n] = measure(f"bench_sync_{n}", url)
            if n == SIZES[0]:
                log("unchanged sync (full re-read) and the incremental one after it")
                unchanged = measure(f"bench_sync_{n}", url, full=True)
                incremental = measure(f"bench_sync_{n}", url)
                log("partner API creates (gunicorn, 2 workers, wrk)")
                api = api_creates_per_second(url)
        finally:
            stop(sandbox)

    first = SIZES[0]
    rate = full[first]["pulled"] / full[first]["wall"]
    print()
    print(
        f"{'sync':34} {'records':>8} {'wall s':>7} {'records/s':>10} {'peak RSS MB':>12} "
        f"{'CPU s':>6} {'PG CPU s':>9}"
    )
    rows = [(f"full, {n} orders (pages of 500)", result) for n, result in full.items()]
    rows += [("unchanged (full re-read)", unchanged), ("incremental", incremental)]
    for label, result in rows:
        print(
            f"{label:34} {result['pulled']:8d} {result['wall']:7.2f} "
            f"{result['pulled'] / result['wall']:10.0f} {result['rss_mb']:12.1f} "
            f"{result['cpu']:6.2f} {result['pg_cpu']:9.2f}"
        )
    print(
        f"full sync of {first}: {full[first]['wall']:.2f} s (target < 10 s); "
        f"{full[first]['created']} created, {full[first]['updated']} moved on"
    )
    if len(SIZES) > 1:
        big = SIZES[-1]
        ratio = full[big]["rss_mb"] / full[first]["rss_mb"]
        print(f"peak RSS {big} / {first}: {ratio:.2f} (target <= 1.20)")
    print(f"unchanged sync: {unchanged['wall']:.2f} s (target < 2 s)")
    print(
        f"partner API: {api['rps']:.0f} creates/s (p99 {api['p99']:.1f} ms, {api['non2xx']} "
        f"non-2xx); sync {rate:.0f} records/s; ratio {rate / api['rps']:.2f} (target >= 2)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], "--full" in sys.argv)
    else:
        main()

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_django(*command: str, **overrides) -> subprocess.CompletedProcess:
    """``manage.py <command>`` (default ``check``) with ``overrides`` in its environment."""
    env = {**os.environ, **overrides}
    return subprocess.run(
        [sys.executable, "manage.py", *(command or ("check",))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_stops_with_a_clear_message_when_the_encryption_key_is_missing():
    result = start_django(FIELD_ENCRYPTION_KEY="")

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr
    assert "Fernet.generate_key()" in result.stderr


def test_start_up_stops_with_a_clear_message_when_the_encryption_key_is_malformed():
    result = start_django(FIELD_ENCRYPTION_KEY="not-a-key")

    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY key #1 is not a valid Fernet key" in result.stderr


def test_start_up_stops_with_a_clear_message_when_the_secret_key_is_missing():
    result = start_django(SECRET_KEY="")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_start_up_stops_with_a_clear_message_when_the_retry_schedule_is_empty():
    result = start_django(WEBHOOK_RETRY_SCHEDULE=",")

    assert result.returncode != 0
    assert "WEBHOOK_RETRY_SCHEDULE must list at least one delay" in result.stderr


def database_options(**overrides) -> str:
    result = start_django(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS'))",
        **{"DATABASE_URL": "postgres://app@db.internal:5432/app", **overrides},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_postgresql_prepares_repeated_statements_unless_turned_off_for_pgbouncer():
    assert database_options() == "{'server_side_binding': True, 'prepare_threshold': 5}"
    assert "'prepare_threshold': 2" in database_options(DATABASE_PREPARE_THRESHOLD="2")
    assert database_options(DATABASE_PREPARED_STATEMENTS="false") in ("None", "{}")


def test_start_up_stops_with_a_clear_message_when_a_retention_period_is_negative():
    result = start_django(INBOUND_EVENT_RETENTION_DAYS="-1")

    assert result.returncode != 0
    assert "INBOUND_EVENT_RETENTION_DAYS must be a number of days" in result.stderr


def test_start_up_stops_with_a_clear_message_when_the_rate_limit_is_malformed():
    # Accepted at start-up before, then every validly signed partner request got a 500.
    for value in ("lots", "600/min", "0/minute", "600/0minutes"):
        result = start_django(PARTNER_API_RATE_LIMIT=value)

        assert result.returncode != 0, value
        assert "PARTNER_API_RATE_LIMIT" in result.stderr, value
        assert "600/minute" in result.stderr, value


def test_start_up_stops_with_a_message_naming_a_setting_that_is_not_a_number():
    for name, value in (
        ("PARTNER_API_MAX_BODY_BYTES", "256k"),
        ("WEBHOOK_SECRET_GRACE_PERIOD", "1d"),
        ("WEBHOOK_READ_TIMEOUT", "fast"),
        ("INBOUND_EVENT_RETENTION_DAYS", "90d"),
        ("WEBHOOK_RETRY_SCHEDULE", "0;5;300"),
    ):
        result = start_django(**{name: value})

        assert result.returncode != 0, name
        last_line = result.stderr.strip().splitlines()[-1]
        assert "ImproperlyConfigured" in last_line and name in last_line, (name, last_line)


def test_start_up_stops_when_a_setting_is_out_of_range():
    for overrides in (
        {"WEBHOOK_DISPATCH_BATCH_SIZE": "0"},  # nothing would ever be sent
        {"WEBHOOK_DISPATCH_INTERVAL": "0"},
        {"WEBHOOK_HOLD_AFTER_FAILURES": "0"},
        {"WEBHOOK_CONNECT_TIMEOUT": "-1"},
        {"PARTNER_API_READ_TIMEOUT": "0"},
        {"PARTNER_API_MAX_BODY_BYTES": "0"},
        # the lease must outlast one send, or a slow partner gets the delivery twice
        {"WEBHOOK_CLAIM_LEASE_SECONDS": "10"},
    ):
        result = start_django(**overrides)

        assert result.returncode != 0, overrides
        last_line = result.stderr.strip().splitlines()[-1]
        assert "ImproperlyConfigured" in last_line, (overrides, last_line)
        assert next(iter(overrides)) in last_line, (overrides, last_line)


def test_start_up_stops_when_a_switch_or_the_log_level_is_not_understood():
    for name, value in (
        ("REQUIRE_EXTERNAL_BROKER", "ture"),  # read as false before: no broker required
        ("DEBUG", "treu"),
        ("LOG_LEVEL", "verbose"),
    ):
        result = start_django(**{name: value})

        assert result.returncode != 0, name
        last_line = result.stderr.strip().splitlines()[-1]
        assert "ImproperlyConfigured" in last_line and name in last_line, (name, last_line)


def test_switches_and_numbers_still_read_the_usual_spellings():
    result = start_django(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.DEBUG, s.PARTNER_ALLOW_PRIVATE_NETWORKS,"
        " s.WEBHOOK_CLAIM_LEASE_SECONDS, s.WEBHOOK_READ_TIMEOUT, s.LOGGING['root']['level'])",
        DEBUG="yes",
        PARTNER_ALLOW_PRIVATE_NETWORKS="off",
        WEBHOOK_READ_TIMEOUT=" 20 ",
        WEBHOOK_CLAIM_LEASE_SECONDS="",
        LOG_LEVEL="warning",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "True False 55 20.0 WARNING"


def test_the_embedded_broker_keeps_its_exchange_tables_under_var_not_in_the_working_directory():
    # kombu's filesystem transport writes control/<exchange>.exchange relative to the
    # current directory: a `control/` folder appeared wherever a process was started (and
    # was committed to the repository, rewritten with each machine's host name).
    result = start_django(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.CELERY_BROKER_TRANSPORT_OPTIONS)",
        CELERY_BROKER_URL="filesystem://",
    )

    assert result.returncode == 0, result.stderr
    assert f"'control_folder': '{ROOT / 'var' / 'broker' / 'control'}'" in result.stdout


def test_an_empty_service_url_means_the_embedded_default():
    # DATABASE_URL= (e.g. from a deploy template with the variable unset) ended in
    # KeyError: 'ENGINE'; REDIS_URL= / CACHE_URL= in "Invalid cache schema" naming nothing.
    result = start_django(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'],"
        " s.CACHES['default']['BACKEND'], s.CELERY_BROKER_URL)",
        DATABASE_URL="",
        REDIS_URL="",
        CACHE_URL=" ",
        CELERY_BROKER_URL="",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "django.db.backends.sqlite3 django.core.cache.backends.filebased.FileBasedCache"
        " filesystem://"
    )


def test_a_cache_url_that_is_not_one_names_the_variable():
    for name in ("CACHE_URL", "REDIS_URL"):
        result = start_django(**{name: "redis.internal:6379"})

        assert result.returncode != 0
        last_line = result.stderr.strip().splitlines()[-1]
        assert "ImproperlyConfigured" in last_line and name in last_line, last_line

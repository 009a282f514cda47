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

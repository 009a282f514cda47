import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_django(**overrides) -> subprocess.CompletedProcess:
    env = {**os.environ, **overrides}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
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

"""`make run`'s .env writer (scripts/write_env.py)."""

import importlib.util
import os
import shlex
import subprocess
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent


def write_env(path: Path, monkeypatch) -> str:
    spec = importlib.util.spec_from_file_location("write_env", ROOT / "scripts" / "write_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ENV_FILE", path)
    module.main()
    return path.read_text()


def values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")


def test_a_copy_of_env_example_gets_its_empty_secrets_filled_in(tmp_path, monkeypatch):
    # README: `make run` writes the keys "only when absent"; .env.example says to copy it to
    # .env. Its SECRET_KEY= and FIELD_ENCRYPTION_KEY= lines are empty, so they were "present"
    # and start-up then stopped with "SECRET_KEY is not set".
    env_file = tmp_path / ".env"
    env_file.write_text((ROOT / ".env.example").read_text())

    written = values(write_env(env_file, monkeypatch))

    assert len(written["SECRET_KEY"]) >= 50
    Fernet(written["FIELD_ENCRYPTION_KEY"])
    assert written["DEBUG"] == "false"  # the rest of the copy is left as it was
    assert list(written).count("SECRET_KEY") == 1


def test_existing_secrets_are_never_overwritten(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    key = Fernet.generate_key().decode()
    env_file.write_text(f"SECRET_KEY=keep-me\nFIELD_ENCRYPTION_KEY={key}\n")

    assert write_env(env_file, monkeypatch) == f"SECRET_KEY=keep-me\nFIELD_ENCRYPTION_KEY={key}\n"


def test_make_run_fills_in_an_existing_env_file():
    # The .env target only ran when the file was missing, so a copied .env.example with
    # empty keys was never completed.
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout

    assert (ROOT / ".env").exists()
    assert "scripts/write_env.py" in plan


def test_make_run_starts_web_worker_and_beat_with_the_real_environment_winning_over_env(
    tmp_path,
):
    # honcho loads .env itself and lets it override the environment, so `DEBUG=false make
    # run` served the admin with DEBUG=true from .env while migrate saw false.
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    command = shlex.split(next(line for line in plan.splitlines() if "honcho" in line))
    command[0] = str(ROOT / command[0])
    (tmp_path / ".env").write_text("CHARGECARS_PROBE=from-dotenv\n")
    (tmp_path / "Procfile").write_text("probe: echo probe=$CHARGECARS_PROBE\n")

    started = subprocess.run(
        command,
        cwd=tmp_path,
        env={**os.environ, "CHARGECARS_PROBE": "from-environment"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert "probe=from-environment" in started.stdout, started.stdout + started.stderr


def test_make_run_takes_port_from_env_file_unless_the_environment_sets_it(tmp_path):
    # .env.example lists PORT under "make run"; make ignored it (and honcho then started
    # gunicorn on it while make printed the login URL with 8000).
    for name in ("requirements.txt", ".venv"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".env").write_text("PORT=8124\n")

    def plan(**environment) -> str:
        return subprocess.run(
            ["make", "-n", "-f", str(ROOT / "Makefile"), "run"],
            cwd=tmp_path,
            env={**{k: v for k, v in os.environ.items() if k != "PORT"}, **environment},
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    assert "http://127.0.0.1:8124/admin/" in plan()
    assert "http://127.0.0.1:8125/admin/" in plan(PORT="8125")

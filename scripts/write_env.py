"""Create .env with freshly generated secrets, or add the ones it lacks. Never overwrites."""

import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def main() -> None:
    existing = ENV_FILE.read_text() if ENV_FILE.exists() else ""
    names = {line.split("=", 1)[0].strip() for line in existing.splitlines() if "=" in line}
    additions = []
    if "SECRET_KEY" not in names:
        additions.append(f"SECRET_KEY={secrets.token_urlsafe(50)}")
    if "FIELD_ENCRYPTION_KEY" not in names:
        additions.append(f"FIELD_ENCRYPTION_KEY={Fernet.generate_key().decode()}")
    if not existing:
        additions += ["DEBUG=true", "PARTNER_ALLOW_PRIVATE_NETWORKS=true"]
    if additions:
        prefix = "" if not existing or existing.endswith("\n") else "\n"
        ENV_FILE.write_text(existing + prefix + "\n".join(additions) + "\n")
        ENV_FILE.chmod(0o600)
        print(
            f"wrote {', '.join(a.split('=')[0] for a in additions)} to {ENV_FILE}", file=sys.stderr
        )


if __name__ == "__main__":
    main()

"""Create .env with freshly generated secrets, or add the ones it lacks. Never overwrites.

A secret is lacking when its line is missing or empty (a copy of .env.example has
``SECRET_KEY=``): an empty line is filled in where it stands.
"""

import re
import secrets
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def main() -> None:
    existing = ENV_FILE.read_text() if ENV_FILE.exists() else ""
    generated = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": lambda: Fernet.generate_key().decode(),
    }
    names = {line.split("=", 1)[0].strip() for line in existing.splitlines() if "=" in line}
    text = existing
    written = []
    for name, make in generated.items():
        empty = re.compile(rf"^[ \t]*{name}[ \t]*=[ \t]*$", re.MULTILINE)
        if empty.search(text):
            text = empty.sub(lambda _match, name=name, make=make: f"{name}={make()}", text, 1)
            written.append(name)
    additions = [f"{name}={make()}" for name, make in generated.items() if name not in names]
    if not existing:
        additions += ["DEBUG=true", "PARTNER_ALLOW_PRIVATE_NETWORKS=true"]
    if additions:
        prefix = "" if not text or text.endswith("\n") else "\n"
        text += prefix + "\n".join(additions) + "\n"
    written += [a.split("=")[0] for a in additions]
    if written:
        ENV_FILE.write_text(text)
        ENV_FILE.chmod(0o600)
        print(f"wrote {', '.join(written)} to {ENV_FILE}", file=sys.stderr)


if __name__ == "__main__":
    main()

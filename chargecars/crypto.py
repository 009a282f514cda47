"""Fernet encryption with FIELD_ENCRYPTION_KEY: every secret we store goes through here.

The keys are read from settings when used, not frozen at import, so a rotation (new key
first, old keys after) takes effect without a restart of the code that reads them.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _crypter_for(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def crypter() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEY
    if isinstance(keys, str):
        keys = [keys]
    return _crypter_for(tuple(keys))


def encrypt_text(plaintext: str) -> str:
    return crypter().encrypt(plaintext.encode()).decode()


def decrypt_text(token: str, *, label: str = "value") -> str:
    try:
        return crypter().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            f"Cannot decrypt {label}: it was encrypted with a key that is not in "
            "FIELD_ENCRYPTION_KEY. Add the old key after the new one (comma-separated) "
            "and run `manage.py rotate_encryption`."
        ) from None

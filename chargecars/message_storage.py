"""Admin messages, kept in the session encrypted.

The admin shows a newly generated webhook secret once, through a message. Between the
request that makes it and the page that shows it, the message waits in the session, which
the database stores signed but readable: the messages are encrypted with
FIELD_ENCRYPTION_KEY like every other stored secret.
"""

from django.contrib.messages.storage.session import SessionStorage

from chargecars.crypto import DecryptionError, decrypt_text, encrypt_text


class EncryptedSessionStorage(SessionStorage):
    def serialize_messages(self, messages):
        return encrypt_text(super().serialize_messages(messages))

    def deserialize_messages(self, data):
        if data and isinstance(data, str):
            try:
                data = decrypt_text(data, label="session messages")
            except DecryptionError:
                return []  # written under a key since retired (or before encryption)
        return super().deserialize_messages(data)

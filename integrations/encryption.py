"""Secrets at rest: strict encrypted model fields and key rotation.

Built on django-encrypted-model-fields' ``EncryptedMixin``, encrypting through
``chargecars.crypto`` instead of the package's crypter:

* a value that cannot be decrypted raises ``DecryptionError`` instead of being handed
  back as if the ciphertext were the plaintext (the package's behaviour on a wrong key);
* the keys are read from ``settings.FIELD_ENCRYPTION_KEY`` when used, not frozen at
  import, so a rotation (new key first, old keys after) takes effect without patching.

It also adds ``EncryptedJSONField``, which the package lacks.
"""

import json

from django.apps import apps
from django.db import models, transaction
from encrypted_model_fields.fields import EncryptedMixin

from chargecars.crypto import decrypt_text, encrypt_text


class StrictEncryptedMixin(EncryptedMixin):
    def _label(self) -> str:
        return f"{self.model._meta.db_table}.{self.column}"

    def to_python(self, value):
        # Form and model input is plaintext; decryption only happens when reading the row.
        return super(EncryptedMixin, self).to_python(value)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return self.to_python(decrypt_text(value, label=self._label()))

    def get_db_prep_save(self, value, connection):
        value = super(EncryptedMixin, self).get_db_prep_save(value, connection)
        if value is None:
            return None
        return encrypt_text(str(value))


class EncryptedTextField(StrictEncryptedMixin, models.TextField):
    pass


class EncryptedJSONField(StrictEncryptedMixin, models.JSONField):
    """A JSON document stored as one Fernet token in a text column."""

    def get_internal_type(self) -> str:
        return "TextField"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        return json.dumps(value, cls=self.encoder)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return json.loads(decrypt_text(value, label=self._label()), cls=self.decoder)


def encrypted_fields() -> list[tuple[type[models.Model], list[str]]]:
    found = []
    for model in apps.get_models():
        names = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, StrictEncryptedMixin)
        ]
        if names:
            found.append((model, names))
    return found


def reencrypt_all(*, batch_size: int = 500) -> dict[str, int]:
    """Re-encrypt every stored secret under the newest key; returns rows per table.

    Reading decrypts with any configured key and saving encrypts with the first one, so
    after this runs the old keys can be removed from FIELD_ENCRYPTION_KEY.

    Each row is read under a row lock in its own transaction and only its secret columns
    are written, so an edit made while this runs (e.g. a webhook secret rotated in the
    admin) is re-encrypted rather than overwritten with what was read before it.
    """
    counts: dict[str, int] = {}
    for model, names in encrypted_fields():
        manager = model._default_manager
        count = 0
        last_pk = None
        while True:
            page = manager.order_by("pk")
            if last_pk is not None:
                page = page.filter(pk__gt=last_pk)
            pks = list(page.values_list("pk", flat=True)[:batch_size])
            if not pks:
                break
            last_pk = pks[-1]
            for pk in pks:
                with transaction.atomic():
                    row = manager.select_for_update().only("pk", *names).filter(pk=pk).first()
                    if row is None:
                        continue  # deleted meanwhile
                    row.save(update_fields=names)
                count += 1
        counts[model._meta.db_table] = count
    return counts

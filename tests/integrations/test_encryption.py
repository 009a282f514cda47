import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from chargecars.crypto import DecryptionError
from integrations.models import PartnerIntegration
from integrations.secrets import generate_webhook_secret
from tests.factories import PartnerIntegrationFactory


def raw_columns(integration) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_credentials, webhook_secret FROM partner_integrations WHERE id = %s",
            [integration.pk.hex if connection.vendor == "sqlite" else integration.pk],
        )
        return cursor.fetchone()


@pytest.mark.django_db
def test_credentials_and_webhook_secret_are_not_stored_in_plaintext():
    integration = PartnerIntegrationFactory(
        authentication_type="basic_auth",
        api_credentials={"username": "chargecars", "password": "hunter2-very-secret"},
        webhook_secret="whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4OTA=",
    )

    credentials_column, secret_column = raw_columns(integration)

    assert "hunter2-very-secret" not in credentials_column
    assert "chargecars" not in credentials_column
    assert "c2VjcmV0LXNpZ25pbmcta2V5" not in secret_column
    assert credentials_column.startswith("gAAAA")  # a Fernet token
    reloaded = PartnerIntegration.objects.get(pk=integration.pk)
    assert reloaded.api_credentials == {"username": "chargecars", "password": "hunter2-very-secret"}
    assert reloaded.webhook_secret == "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4OTA="


@pytest.mark.django_db
def test_reading_a_secret_with_the_wrong_key_raises_a_clear_error(settings):
    integration = PartnerIntegrationFactory(api_credentials={"api_key": "k-123456789"})
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]

    with pytest.raises(DecryptionError) as error:
        PartnerIntegration.objects.get(pk=integration.pk)

    message = str(error.value)
    assert "partner_integrations.api_credentials" in message
    assert "FIELD_ENCRYPTION_KEY" in message
    assert "gAAAA" not in message


@pytest.mark.django_db
def test_key_rotation_reencrypts_every_secret_under_the_newest_key(settings):
    old_key = settings.FIELD_ENCRYPTION_KEY[0]
    integration = PartnerIntegrationFactory(api_credentials={"api_key": "k-123456789"})
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]

    output = io.StringIO()
    call_command("rotate_encryption", stdout=output)

    assert "partner_integrations: 1 row(s) re-encrypted" in output.getvalue()
    credentials_column, secret_column = raw_columns(integration)
    new_only = Fernet(new_key)
    assert new_only.decrypt(credentials_column.encode()) == b'{"api_key": "k-123456789"}'
    assert new_only.decrypt(secret_column.encode()).startswith(b"whsec_")
    settings.FIELD_ENCRYPTION_KEY = [new_key]
    assert PartnerIntegration.objects.get(pk=integration.pk).api_credentials == {
        "api_key": "k-123456789"
    }


@pytest.mark.django_db
def test_key_rotation_keeps_a_secret_changed_while_it_runs(settings, monkeypatch):
    old_key = settings.FIELD_ENCRYPTION_KEY[0]
    first, second = PartnerIntegrationFactory(), PartnerIntegrationFactory()
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [new_key, old_key]
    changed_meanwhile = generate_webhook_secret()
    original_save = PartnerIntegration.save
    edited = []

    def save_then_edit_the_other_row_elsewhere(self, *args, **kwargs):
        # While the command works on one row, an operator changes the other row's secret.
        original_save(self, *args, **kwargs)
        if not edited:
            other = second if self.pk == first.pk else first
            PartnerIntegration.objects.filter(pk=other.pk).update(webhook_secret=changed_meanwhile)
            edited.append(other)

    monkeypatch.setattr(PartnerIntegration, "save", save_then_edit_the_other_row_elsewhere)

    output = io.StringIO()
    call_command("rotate_encryption", stdout=output)

    assert "partner_integrations: 2 row(s) re-encrypted" in output.getvalue()
    settings.FIELD_ENCRYPTION_KEY = [new_key]
    assert PartnerIntegration.objects.get(pk=edited[0].pk).webhook_secret == changed_meanwhile

"""The source document's validation checklist and verification query, one test per line."""

import uuid

import pytest
from django.core.management import call_command
from django.db import connection, models

from integrations.encryption import EncryptedJSONField, EncryptedTextField
from integrations.examples import (
    EXAMPLE_DELIVERY_NOT_SENT,
    VOLVO_DEALER_INTEGRATION,
    example_partners_load,
)
from integrations.models import DeliveryState, PartnerIntegration, WebhookDelivery
from orders.models import Order
from orders.services import order_change_status
from organizations.models import Organization

# name -> (field class, nullable, default) as the document's schema lists them.
DOCUMENT_SCHEMA = {
    "id": (models.UUIDField, False, None),
    "created_at": (models.DateTimeField, False, None),
    "partner_organization": (models.ForeignKey, False, None),
    "integration_name": (models.TextField, False, None),
    "api_base_url": (models.TextField, True, None),
    "api_version": (models.TextField, True, None),
    "authentication_type": (models.CharField, False, "api_key"),
    "api_credentials": (EncryptedJSONField, True, None),
    "webhook_url": (models.TextField, True, None),
    "webhook_secret": (EncryptedTextField, True, None),
    "webhook_events": (models.JSONField, True, None),
    "status_mapping": (models.JSONField, True, None),
    "is_active": (models.BooleanField, False, True),
    "sync_enabled": (models.BooleanField, False, True),
    "last_sync_at": (models.DateTimeField, True, None),
    "sync_frequency": (models.CharField, False, "real_time"),
    "success_rate": (models.DecimalField, True, None),
    "last_error_at": (models.DateTimeField, True, None),
    "last_error_message": (models.TextField, True, None),
}

VERIFICATION_SQL = """
SELECT
  pi.integration_name,
  o.name as partner_name,
  pi.is_active
FROM partner_integrations pi
JOIN organizations o ON pi.partner_organization_id = o.id
WHERE o.organization_type LIKE 'partner_%'
"""


def test_partner_integrations_table_schema_has_the_documents_19_fields():
    fields = {f.name: f for f in PartnerIntegration._meta.concrete_fields}

    assert len(fields) == 19
    assert set(fields) == set(DOCUMENT_SCHEMA)
    for name, (field_class, nullable, default) in DOCUMENT_SCHEMA.items():
        field = fields[name]
        assert isinstance(field, field_class), name
        assert field.null is nullable, name
        if default is not None:
            assert field.default == default, name


@pytest.mark.django_db
def test_partner_integrations_database_table_has_exactly_the_19_columns():
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, "partner_integrations")

    assert sorted(column.name for column in description) == sorted(
        [f.column for f in PartnerIntegration._meta.concrete_fields]
    )
    assert "partner_organization_id" in {column.name for column in description}


def test_enum_values_are_exact_matches_of_the_document():
    fields = {f.name: f for f in PartnerIntegration._meta.concrete_fields}

    assert [value for value, _ in fields["authentication_type"].choices] == [
        "api_key",
        "oauth2",
        "basic_auth",
        "bearer_token",
    ]
    assert [value for value, _ in fields["sync_frequency"].choices] == [
        "real_time",
        "every_15_minutes",
        "hourly",
        "daily",
    ]


@pytest.mark.django_db
def test_uuid_primary_key_is_configured():
    organization = Organization.objects.create(name="Volvo", organization_type="partner_dealer")
    integration = PartnerIntegration.objects.create(
        partner_organization=organization, integration_name="volvo_dealer_api"
    )

    assert PartnerIntegration._meta.pk.name == "id"
    assert isinstance(integration.pk, uuid.UUID)
    assert PartnerIntegration.objects.get(pk=str(integration.pk)) == integration


def test_foreign_key_points_to_the_organizations_table():
    field = PartnerIntegration._meta.get_field("partner_organization")

    assert field.related_model is Organization
    assert field.related_model._meta.db_table == "organizations"
    assert field.column == "partner_organization_id"


@pytest.mark.django_db
def test_foreign_key_refuses_an_unknown_organization():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerIntegration.objects.create(
            partner_organization_id=uuid.uuid4(), integration_name="orphan_api"
        )
        # Foreign keys are checked at commit; the test's transaction never commits.
        connection.check_constraints(table_names=["partner_integrations"])


def test_orders_table_has_partner_external_references_json_field():
    field = Order._meta.get_field("partner_external_references")

    assert Order._meta.db_table == "orders"
    assert isinstance(field, models.JSONField)
    assert field.default is dict


@pytest.mark.django_db
def test_example_volvo_configuration_loads_and_validates():
    example_partners_load()

    volvo = PartnerIntegration.objects.get(integration_name="volvo_dealer_api")
    volvo.full_clean()
    for key in ("api_base_url", "api_version", "authentication_type", "webhook_url"):
        assert getattr(volvo, key) == VOLVO_DEALER_INTEGRATION[key]
    assert volvo.webhook_events == ["order_created", "order_approved", "installation_completed"]
    assert volvo.status_mapping == VOLVO_DEALER_INTEGRATION["status_mapping"]
    assert volvo.api_credentials["client_id"] == "chargecars_api"
    assert volvo.api_credentials["token_endpoint"] == "https://auth.volvo-dealer.com/oauth/token"
    assert volvo.api_credentials["client_secret"] != "{encrypted_secret}"
    assert volvo.webhook_secret.startswith("whsec_")
    assert (volvo.is_active, volvo.sync_enabled, volvo.sync_frequency) == (
        True,
        True,
        "real_time",
    )


@pytest.mark.django_db
def test_documents_verification_query_returns_the_example_partners():
    example_partners_load()
    Organization.objects.create(name="A customer", organization_type="customer")

    with connection.cursor() as cursor:
        cursor.execute(VERIFICATION_SQL)
        rows = sorted(cursor.fetchall())

    # The sandbox partner is loaded beside the document's examples where partner URLs may
    # be local (development, tests: PARTNER_ALLOW_PRIVATE_NETWORKS).
    assert [(name, partner, bool(active)) for name, partner, active in rows] == [
        ("chargecars_sandbox", "ChargeCars sandbox partner", True),
        ("eneco_api", "Eneco", True),
        ("installatiegroep_noord_api", "Installatiegroep Noord", True),
        ("volvo_dealer_api", "Volvo Car Dealers Nederland", True),
    ]


@pytest.mark.django_db
def test_loading_example_partners_twice_creates_nothing_the_second_time():
    first = example_partners_load()
    secret_before = PartnerIntegration.objects.get(integration_name="eneco_api").webhook_secret

    second = example_partners_load()

    assert first == {"organizations": 4, "integrations": 4, "orders": 3}  # with the sandbox
    assert second == {"organizations": 0, "integrations": 0, "orders": 0}
    assert PartnerIntegration.objects.get(integration_name="eneco_api").webhook_secret == (
        secret_before
    )
    assert Order.objects.get(
        partner_external_references__partner_order_id="VLV-2025-789123"
    ).status == ("approved")


@pytest.mark.django_db
def test_loading_example_partners_sends_no_webhook_but_later_changes_notify(
    django_capture_on_commit_callbacks,
):
    # The Volvo example's webhook_url is the document's partner.volvo.com: `make run` on a
    # machine with internet used to POST the example orders' events there.
    with django_capture_on_commit_callbacks(execute=True):
        example_partners_load()

    deliveries = WebhookDelivery.objects.all()
    assert deliveries.exists()
    assert set(deliveries.values_list("state", "attempts", "last_error")) == {
        (DeliveryState.CANCELLED, 0, EXAMPLE_DELIVERY_NOT_SENT)
    }

    order = Order.objects.get(partner_external_references__partner_order_id="VLV-2025-789123")
    order_change_status(order=order, to_status="in_progress", source="staff")
    order_change_status(order=order, to_status="completed", source="staff")

    completed = WebhookDelivery.objects.get(order=order, event="installation_completed")
    assert completed.state == DeliveryState.PENDING


@pytest.mark.django_db
def test_loading_example_partners_again_keeps_an_organization_ops_renamed():
    # `make run` loads the examples on every start; a renamed example organization came
    # back as a second, empty organization under its old name.
    example_partners_load()
    Organization.objects.filter(name="Eneco").update(name="Eneco Energie B.V.")

    again = example_partners_load()

    assert again == {"organizations": 0, "integrations": 0, "orders": 0}
    assert not Organization.objects.filter(name="Eneco").exists()
    assert Organization.objects.count() == 4  # the document's three and the sandbox


@pytest.mark.django_db
def test_make_run_loads_the_examples_into_an_empty_database_only(capsys):
    # `make run` runs `load_example_partners --if-empty` on every start: examples ops
    # deleted must not come back; the command without the flag adds what is missing.
    call_command("load_example_partners", "--if-empty")
    assert "created 4 organizations, 4 integrations, 3 orders" in capsys.readouterr().out
    PartnerIntegration.objects.get(integration_name="eneco_api").orders.all().delete()
    PartnerIntegration.objects.filter(integration_name="eneco_api").delete()

    call_command("load_example_partners", "--if-empty")

    assert "not loaded: the database already has organizations" in capsys.readouterr().out
    assert not PartnerIntegration.objects.filter(integration_name="eneco_api").exists()

    call_command("load_example_partners")

    assert "created 0 organizations, 1 integrations, 1 orders" in capsys.readouterr().out

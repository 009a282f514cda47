import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from integrations.admin.forms import PartnerIntegrationAdminForm
from integrations.models import PartnerIntegration
from integrations.secrets import generate_webhook_secret
from integrations.signing import webhook_secret_rotate
from tests.factories import (
    VOLVO_STATUS_MAPPING,
    OrderFactory,
    OrganizationFactory,
    PartnerIntegrationFactory,
)

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:integrations_partnerintegration_add")
CHANGELIST_URL = reverse("admin:integrations_partnerintegration_changelist")

VOLVO_CREDENTIALS = {
    "client_id": "chargecars_api",
    "client_secret": "volvo-client-secret-7f3a9c2e51",
    "token_endpoint": "https://auth.volvo-dealer.com/oauth/token",
}


def change_url(integration):
    return reverse("admin:integrations_partnerintegration_change", args=[integration.pk])


def form_data(organization, **overrides):
    """What the operator submits: the document's Volvo example, field by field."""
    data = {
        "partner_organization": str(organization.pk),
        "integration_name": "volvo_dealer_api",
        "api_base_url": "https://api.volvo-dealer.com/v1",
        "api_version": "1.0",
        "authentication_type": "bearer_token",
        "api_credentials": json.dumps(VOLVO_CREDENTIALS),
        "webhook_url": "https://partner.volvo.com/webhooks/chargecars",
        "webhook_secret": "",
        "webhook_events": ["order_created", "order_approved", "installation_completed"],
        "status_mapping": json.dumps(VOLVO_STATUS_MAPPING),
        "is_active": "on",
        "sync_enabled": "on",
        "sync_frequency": "real_time",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def edit_data(integration, **overrides):
    data = form_data(
        integration.partner_organization,
        integration_name=integration.integration_name,
        api_base_url=integration.api_base_url,
        authentication_type=integration.authentication_type,
        api_credentials="",
        webhook_events=integration.webhook_events,
        status_mapping=json.dumps(integration.status_mapping),
    )
    data.update(overrides)
    return data


def field_errors(response, field):
    return response.context["adminform"].form.errors.get(field, [])


def raw_column(integration, column):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM partner_integrations WHERE id = %s",
            [integration.pk.hex if connection.vendor == "sqlite" else integration.pk],
        )
        return cursor.fetchone()[0]


def test_integration_changelist_lists_name_partner_and_monitoring_columns(admin_client):
    integration = PartnerIntegrationFactory(success_rate=Decimal("97.50"))

    response = admin_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert integration.integration_name in html
    assert integration.partner_organization.name in html
    assert "97.50%" in html
    for column in ("Authentication type", "Sync frequency", "Last sync at", "Last error at"):
        assert column in html


def test_integration_add_form_groups_fields_in_the_documents_order(admin_client):
    response = admin_client.get(ADD_URL)

    assert response.status_code == 200
    html = response.content.decode()
    headings = [
        "Basic Configuration",
        "Authentication",
        "Webhooks",
        "Status Mapping",
        "Configuration",
        "Monitoring",
    ]
    positions = [html.index(f">{heading}</h2>") for heading in headings]
    assert positions == sorted(positions)
    for event in ("order_created", "installation_started", "order_cancelled"):
        assert f'type="checkbox" name="webhook_events" value="{event}"' in html


def test_integration_add_form_lists_the_credentials_each_authentication_type_needs(
    admin_client,
):
    response = admin_client.get(ADD_URL)

    html = response.content.decode()
    assert "bearer_token: {token} or {client_id, client_secret, token_endpoint}" in html
    assert "basic_auth: {username, password}" in html
    assert "api_key: {api_key}; optional: header_name" in html


def test_integration_change_form_shows_credentials_and_secret_masked(admin_client):
    integration = PartnerIntegrationFactory(
        authentication_type="bearer_token", api_credentials=VOLVO_CREDENTIALS
    )

    response = admin_client.get(change_url(integration))

    assert response.status_code == 200
    html = response.content.decode()
    assert "chargecars_api" in html  # client_id identifies, it is not a secret
    assert "https://auth.volvo-dealer.com/oauth/token" in html
    assert "••••••••" + VOLVO_CREDENTIALS["client_secret"][-4:] in html
    assert "••••••••" + integration.webhook_secret[-4:] in html


def test_stored_secrets_never_appear_in_any_rendered_admin_page(admin_client):
    integration = PartnerIntegrationFactory(
        authentication_type="bearer_token", api_credentials=VOLVO_CREDENTIALS
    )
    order = OrderFactory(integration=integration, partner_external_references={"x": "1"})
    pages = [
        CHANGELIST_URL,
        change_url(integration),
        reverse("admin:integrations_partnerintegration_history", args=[integration.pk]),
        reverse("admin:integrations_partnerintegration_delete", args=[integration.pk]),
        reverse(
            "admin:organizations_organization_change", args=[integration.partner_organization_id]
        ),
        reverse("admin:orders_order_changelist"),
        reverse("admin:orders_order_change", args=[order.pk]),
        reverse("admin:orders_orderstatuschange_changelist"),
    ]

    for page in pages:
        html = admin_client.get(page).content.decode()
        assert VOLVO_CREDENTIALS["client_secret"] not in html, page
        assert integration.webhook_secret not in html, page
        assert integration.webhook_secret.removeprefix("whsec_") not in html, page


def test_a_view_only_user_sees_credentials_and_secret_masked_only(client):
    integration = PartnerIntegrationFactory(
        authentication_type="bearer_token", api_credentials=VOLVO_CREDENTIALS
    )
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_partnerintegration"))
    client.force_login(viewer)

    response = client.get(change_url(integration))

    assert response.status_code == 200
    html = response.content.decode()
    assert VOLVO_CREDENTIALS["client_secret"] not in html
    assert integration.webhook_secret not in html
    assert "••••••••" + VOLVO_CREDENTIALS["client_secret"][-4:] in html


def test_creating_bearer_token_integration_without_client_secret_names_the_missing_key(
    admin_client,
):
    organization = OrganizationFactory()
    credentials = {k: v for k, v in VOLVO_CREDENTIALS.items() if k != "client_secret"}

    response = admin_client.post(
        ADD_URL, form_data(organization, api_credentials=json.dumps(credentials))
    )

    assert response.status_code == 200
    assert any(
        "bearer_token credentials are missing client_secret" in error
        for error in field_errors(response, "api_credentials")
    )
    assert "missing client_secret" in response.content.decode()
    assert not PartnerIntegration.objects.exists()


def test_failed_save_does_not_send_typed_credentials_back_to_the_browser(admin_client):
    organization = OrganizationFactory()

    response = admin_client.post(ADD_URL, form_data(organization, webhook_url="not a url"))

    assert response.status_code == 200
    assert field_errors(response, "webhook_url")
    assert VOLVO_CREDENTIALS["client_secret"] not in response.content.decode()


def test_creating_the_volvo_example_shows_the_generated_secret_once(admin_client):
    organization = OrganizationFactory(name="Volvo Car Dealers")

    response = admin_client.post(ADD_URL, form_data(organization), follow=True)

    assert response.status_code == 200
    integration = PartnerIntegration.objects.get(integration_name="volvo_dealer_api")
    assert integration.partner_organization == organization
    assert integration.api_credentials == VOLVO_CREDENTIALS
    assert integration.webhook_events == [
        "order_created",
        "order_approved",
        "installation_completed",
    ]
    assert integration.status_mapping == VOLVO_STATUS_MAPPING
    assert integration.webhook_secret.startswith("whsec_")
    assert any(integration.webhook_secret in str(m) for m in response.context["messages"])
    assert integration.webhook_secret in response.content.decode()

    for page in (change_url(integration), CHANGELIST_URL, change_url(integration)):
        assert integration.webhook_secret not in admin_client.get(page).content.decode()


def test_created_integration_stores_credentials_and_secret_encrypted(admin_client):
    organization = OrganizationFactory()

    admin_client.post(ADD_URL, form_data(organization))

    integration = PartnerIntegration.objects.get()
    stored_credentials = raw_column(integration, "api_credentials")
    stored_secret = raw_column(integration, "webhook_secret")
    assert VOLVO_CREDENTIALS["client_secret"] not in stored_credentials
    assert "chargecars_api" not in stored_credentials
    assert integration.webhook_secret not in stored_secret


def test_a_typed_webhook_secret_is_kept_and_not_shown_after_saving(admin_client):
    organization = OrganizationFactory()
    secret = generate_webhook_secret()

    response = admin_client.post(
        ADD_URL, form_data(organization, webhook_secret=secret), follow=True
    )

    assert PartnerIntegration.objects.get().webhook_secret == secret
    assert secret not in response.content.decode()


def test_a_typed_webhook_secret_not_in_standard_webhooks_form_is_rejected(admin_client):
    organization = OrganizationFactory()

    response = admin_client.post(ADD_URL, form_data(organization, webhook_secret="hunter2"))

    assert any("whsec_" in error for error in field_errors(response, "webhook_secret"))
    assert not PartnerIntegration.objects.exists()


def test_blank_credentials_and_secret_on_edit_keep_the_stored_values(admin_client):
    integration = PartnerIntegrationFactory(
        authentication_type="bearer_token", api_credentials=VOLVO_CREDENTIALS
    )
    secret = integration.webhook_secret

    response = admin_client.post(
        change_url(integration), edit_data(integration, api_version="2.0"), follow=True
    )

    assert response.status_code == 200
    integration.refresh_from_db()
    assert integration.api_version == "2.0"
    assert integration.api_credentials == VOLVO_CREDENTIALS
    assert integration.webhook_secret == secret
    assert secret not in response.content.decode()


def test_new_credentials_on_edit_replace_the_stored_ones(admin_client):
    integration = PartnerIntegrationFactory()
    token = {"token": "static-bearer-token-00112233"}

    admin_client.post(
        change_url(integration),
        edit_data(
            integration, authentication_type="bearer_token", api_credentials=json.dumps(token)
        ),
    )

    integration.refresh_from_db()
    assert integration.authentication_type == "bearer_token"
    assert integration.api_credentials == token


def test_pointing_the_api_base_url_at_another_host_requires_the_credentials_again(
    admin_client,
):
    """Else whoever may edit the integration could send the stored (write-only) credentials
    to a server of their own, e.g. with "Test connection", and read them there."""
    integration = PartnerIntegrationFactory(api_credentials={"api_key": "stored-k3y-s3cr3t"})

    response = admin_client.post(
        change_url(integration),
        edit_data(integration, api_base_url="https://collector.example.net/v1"),
    )

    assert response.status_code == 200
    assert "enter the credentials again" in " ".join(field_errors(response, "api_credentials"))
    integration.refresh_from_db()
    assert integration.api_base_url == "https://api.partner.example/v1"


def test_the_api_base_url_can_move_to_another_host_with_credentials_entered_again(
    admin_client,
):
    integration = PartnerIntegrationFactory(api_credentials={"api_key": "stored-k3y-s3cr3t"})

    response = admin_client.post(
        change_url(integration),
        edit_data(
            integration,
            api_base_url="https://api2.partner.example/v2",
            api_credentials=json.dumps({"api_key": "new-k3y-s3cr3t"}),
        ),
    )

    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.api_base_url == "https://api2.partner.example/v2"
    assert integration.api_credentials == {"api_key": "new-k3y-s3cr3t"}


def test_a_new_path_on_the_same_api_host_keeps_the_stored_credentials(admin_client):
    integration = PartnerIntegrationFactory(api_credentials={"api_key": "stored-k3y-s3cr3t"})

    response = admin_client.post(
        change_url(integration),
        edit_data(integration, api_base_url="https://api.partner.example/v2"),
    )

    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.api_base_url == "https://api.partner.example/v2"
    assert integration.api_credentials == {"api_key": "stored-k3y-s3cr3t"}


def test_changing_only_the_authentication_type_rejects_stored_credentials_that_no_longer_fit(
    admin_client,
):
    integration = PartnerIntegrationFactory(
        authentication_type="api_key", api_credentials={"api_key": "key-0123456789abcdef"}
    )

    response = admin_client.post(
        change_url(integration), edit_data(integration, authentication_type="basic_auth")
    )

    assert response.status_code == 200
    errors = " ".join(field_errors(response, "api_credentials"))
    assert "basic_auth credentials are missing username, password" in errors
    assert "enter a complete new set" in errors
    integration.refresh_from_db()
    assert integration.authentication_type == "api_key"


def test_status_mapping_with_an_unknown_chargecars_status_says_which_status(admin_client):
    organization = OrganizationFactory()
    mapping = {
        "chargecars_to_partner": {"shipped": "SHIPPED"},
        "partner_to_chargecars": {"SHIPPED": "new"},
    }

    response = admin_client.post(
        ADD_URL, form_data(organization, status_mapping=json.dumps(mapping))
    )

    errors = " ".join(field_errors(response, "status_mapping"))
    assert "'shipped' is not a ChargeCars status" in errors
    assert not PartnerIntegration.objects.exists()


def test_status_mapping_missing_a_direction_says_which_direction(admin_client):
    organization = OrganizationFactory()
    mapping = {"chargecars_to_partner": {"new": "RECEIVED"}}

    response = admin_client.post(
        ADD_URL, form_data(organization, status_mapping=json.dumps(mapping))
    )

    errors = " ".join(field_errors(response, "status_mapping"))
    assert "'partner_to_chargecars' is missing" in errors


def test_malformed_status_mapping_json_says_where_it_breaks(admin_client):
    organization = OrganizationFactory()

    response = admin_client.post(
        ADD_URL, form_data(organization, status_mapping='{"chargecars_to_partner": {"new": }')
    )

    errors = " ".join(field_errors(response, "status_mapping"))
    assert "not valid JSON" in errors
    assert "line 1, column" in errors
    # What was typed comes back so it can be fixed.
    assert "chargecars_to_partner" in response.content.decode()


def test_a_partner_status_mapped_twice_is_refused_not_silently_collapsed(admin_client):
    organization = OrganizationFactory()
    typed = (
        '{"chargecars_to_partner": {"new": "RECEIVED"}, '
        '"partner_to_chargecars": {"RECEIVED": "new", "RECEIVED": "approved"}}'
    )

    response = admin_client.post(ADD_URL, form_data(organization, status_mapping=typed))

    errors = " ".join(field_errors(response, "status_mapping"))
    assert "The key 'RECEIVED' appears twice" in errors
    assert not PartnerIntegration.objects.exists()


def test_status_mapping_is_shown_pretty_printed_on_the_change_form(admin_client):
    integration = PartnerIntegrationFactory()

    html = admin_client.get(change_url(integration)).content.decode()

    assert "{\n  &quot;chargecars_to_partner&quot;: {\n    &quot;new&quot;" in html


def test_integration_organization_choices_are_partner_organizations_only(admin_client):
    partner = OrganizationFactory(name="Eneco", organization_type="partner_energy")
    customer = OrganizationFactory(name="Some Customer BV", organization_type="customer")

    response = admin_client.get(ADD_URL)

    choices = response.context["adminform"].form.fields["partner_organization"].queryset
    assert partner in choices
    assert customer not in choices


def test_health_filter_separates_failing_stale_and_healthy_integrations(admin_client):
    now = timezone.now()
    failing = PartnerIntegrationFactory(last_error_at=now - timedelta(hours=1), last_sync_at=now)
    low_rate = PartnerIntegrationFactory(success_rate=Decimal("80"), last_sync_at=now)
    stale = PartnerIntegrationFactory(
        sync_frequency="hourly", last_sync_at=now - timedelta(hours=3)
    )
    healthy = PartnerIntegrationFactory(
        sync_frequency="daily", last_sync_at=now - timedelta(hours=20), success_rate=Decimal("99")
    )

    def listed(health):
        response = admin_client.get(CHANGELIST_URL, {"health": health})
        return set(response.context["cl"].queryset)

    assert listed("failing") == {failing, low_rate}
    assert listed("stale") == {stale}
    assert listed("healthy") == {healthy}


def test_integration_search_finds_by_organization_name(admin_client):
    wanted = PartnerIntegrationFactory(partner_organization__name="Van Mossel West")
    PartnerIntegrationFactory()

    response = admin_client.get(CHANGELIST_URL, {"q": "mossel"})

    assert list(response.context["cl"].queryset) == [wanted]


def test_saving_an_integration_without_credentials_warns_that_api_calls_are_refused(
    admin_client,
):
    organization = OrganizationFactory()

    response = admin_client.post(ADD_URL, form_data(organization, api_credentials=""), follow=True)

    assert PartnerIntegration.objects.get().api_credentials is None
    assert "has no API credentials" in response.content.decode()


def test_integration_name_cannot_be_renamed_once_partners_use_it_in_urls(admin_client):
    integration = PartnerIntegrationFactory(integration_name="volvo_dealer_api")

    response = admin_client.post(
        change_url(integration),
        edit_data(integration, integration_name="renamed_api", api_version="3.0"),
        follow=True,
    )

    assert response.status_code == 200
    integration.refresh_from_db()
    assert (integration.integration_name, integration.api_version) == ("volvo_dealer_api", "3.0")
    assert (
        'name="integration_name"' not in admin_client.get(change_url(integration)).content.decode()
    )


@pytest.mark.parametrize(
    ("authentication_type", "credentials", "named_key", "problem"),
    [
        ("api_key", {"api_key": " Key-123-secret"}, "api_key", "whitespace"),
        ("api_key", {"api_key": "Key-123-secret\n"}, "api_key", "whitespace"),
        ("bearer_token", {"token": "tok-secret\r\nX-Evil: 1"}, "token", "control character"),
        ("basic_auth", {"username": "cc", "password": "pw-secret-€"}, "password", "Latin-1"),
        ("api_key", {"api_key": "Key-123-secret", "header_name": 5}, "header_name", "header"),
        (
            "api_key",
            {"api_key": "Key-123-secret", "header_name": "X Api Key"},
            "header_name",
            "header",
        ),
    ],
)
def test_credentials_that_cannot_be_sent_in_an_http_header_are_refused_without_echo(
    admin_client, authentication_type, credentials, named_key, problem
):
    organization = OrganizationFactory()

    response = admin_client.post(
        ADD_URL,
        form_data(
            organization,
            authentication_type=authentication_type,
            api_credentials=json.dumps(credentials),
        ),
    )

    assert response.status_code == 200
    errors = " ".join(field_errors(response, "api_credentials"))
    assert named_key in errors
    assert problem in errors
    page = response.content.decode()
    for value in credentials.values():
        if isinstance(value, str) and "secret" in value:
            assert value.strip() not in page
            assert value.strip() not in errors
    assert not PartnerIntegration.objects.exists()


@pytest.mark.parametrize("field", ["webhook_url", "api_base_url", "token_endpoint"])
def test_a_partner_url_with_a_port_out_of_range_is_a_form_error_not_a_500(
    admin_client, settings, monkeypatch, field
):
    settings.PARTNER_ALLOW_PRIVATE_NETWORKS = False
    monkeypatch.setattr("integrations.config._is_private_address", lambda host: False)
    organization = OrganizationFactory()
    bad_url = "https://partner.example:99999/hook"
    if field == "token_endpoint":
        overrides = {
            "api_credentials": json.dumps({**VOLVO_CREDENTIALS, "token_endpoint": bad_url})
        }
        error_field = "api_credentials"
    else:
        overrides = {field: bad_url}
        error_field = field

    response = admin_client.post(ADD_URL, form_data(organization, **overrides))

    assert response.status_code == 200
    assert "port is out of range" in " ".join(field_errors(response, error_field))
    assert not PartnerIntegration.objects.exists()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_status_mapping_with_nan_or_infinity_is_refused_as_invalid_json(admin_client, constant):
    organization = OrganizationFactory()
    mapping = json.dumps(VOLVO_STATUS_MAPPING)[:-1] + f', "x": {constant}}}'

    response = admin_client.post(ADD_URL, form_data(organization, status_mapping=mapping))

    assert response.status_code == 200
    errors = " ".join(field_errors(response, "status_mapping"))
    assert "not valid JSON" in errors
    assert "not a JSON number" in errors
    assert not PartnerIntegration.objects.exists()


@pytest.mark.parametrize("field", ["status_mapping", "api_credentials"])
def test_very_deeply_nested_json_is_refused_as_invalid_json_not_a_500(admin_client, field):
    organization = OrganizationFactory()
    deep = "[" * 100000 + "]" * 100000

    response = admin_client.post(ADD_URL, form_data(organization, **{field: deep}))

    assert response.status_code == 200
    assert "nested too deeply" in " ".join(field_errors(response, field))
    assert not PartnerIntegration.objects.exists()


def test_saving_the_form_keeps_a_secret_rotated_and_health_updated_meanwhile(
    admin_client, monkeypatch
):
    integration = PartnerIntegrationFactory(
        authentication_type="bearer_token", api_credentials=VOLVO_CREDENTIALS, success_rate=100
    )
    rotated = {}
    original_clean = PartnerIntegrationAdminForm.clean

    def clean_then_rotate_elsewhere(form):
        # Another operator rotates the secret and a worker records health while this
        # request holds the copy it loaded at its start.
        cleaned = original_clean(form)
        concurrent = PartnerIntegration.objects.get(pk=integration.pk)
        rotated["secret"] = webhook_secret_rotate(integration=concurrent)
        PartnerIntegration.objects.filter(pk=integration.pk).update(success_rate=42)
        return cleaned

    monkeypatch.setattr(PartnerIntegrationAdminForm, "clean", clean_then_rotate_elsewhere)

    response = admin_client.post(
        change_url(integration), edit_data(integration, api_version="2.0"), follow=True
    )

    assert response.status_code == 200
    integration.refresh_from_db()
    assert integration.api_version == "2.0"
    assert integration.webhook_secret == rotated["secret"]
    assert integration.success_rate == 42
    assert integration.api_credentials == VOLVO_CREDENTIALS

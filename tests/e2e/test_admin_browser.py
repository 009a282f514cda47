import json

import pytest
from django.contrib.auth.models import User

from chargecars.crypto import decrypt_text
from integrations.models import PartnerIntegration
from tests.e2e.conftest import stored_integration_column
from tests.factories import VOLVO_STATUS_MAPPING, OrganizationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CREDENTIALS = {
    "client_id": "chargecars_api",
    "client_secret": "browser-typed-secret-9d81c7",
    "token_endpoint": "https://auth.volvo-dealer.com/oauth/token",
}


def test_ops_user_creates_the_volvo_integration_through_the_admin_in_a_browser(
    live_server, page, static_responses
):
    User.objects.create_superuser("ops", "ops@chargecars.example", "correct-horse-battery")
    OrganizationFactory(name="Volvo Car Dealers", organization_type="partner_dealer")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.click("a[href='/admin/integrations/partnerintegration/add/']")
    assert page.locator("h1").inner_text() == "Add partner integration"

    page.select_option("#id_partner_organization", label="Volvo Car Dealers")
    page.fill("#id_integration_name", "volvo_dealer_api")
    page.fill("#id_api_base_url", "https://api.volvo-dealer.com/v1")
    page.fill("#id_api_version", "1.0")
    page.select_option("#id_authentication_type", "bearer_token")
    page.fill("#id_api_credentials", json.dumps(CREDENTIALS, indent=2))
    page.fill("#id_webhook_url", "https://partner.volvo.com/webhooks/chargecars")
    for event in ("order_created", "order_approved", "installation_completed"):
        page.check(f"input[name=webhook_events][value={event}]")
    page.fill("#id_status_mapping", json.dumps(VOLVO_STATUS_MAPPING, indent=2))
    page.click("input[name=_save]")

    success = page.locator(".messagelist .success").inner_text()
    assert "volvo_dealer_api" in success
    assert "was added successfully" in success
    integration = PartnerIntegration.objects.get(integration_name="volvo_dealer_api")
    assert (
        "Webhook secret for volvo_dealer_api" in page.locator(".messagelist .warning").inner_text()
    )
    assert integration.webhook_secret in page.content()  # shown this once
    assert integration.api_credentials == CREDENTIALS
    assert integration.webhook_events == [
        "order_created",
        "order_approved",
        "installation_completed",
    ]
    assert integration.status_mapping == VOLVO_STATUS_MAPPING
    stored = stored_integration_column("api_credentials", "volvo_dealer_api")
    assert CREDENTIALS["client_secret"] not in stored
    assert json.loads(decrypt_text(stored)) == CREDENTIALS

    page.goto(f"{live_server.url}/admin/integrations/partnerintegration/{integration.pk}/change/")
    assert integration.webhook_secret not in page.content()
    assert CREDENTIALS["client_secret"] not in page.content()
    # The admin's own stylesheets were served, so the page really rendered as designed.
    assert any(url.endswith("/admin/css/base.css") for url, _ in static_responses)
    assert all(status in (200, 304) for _, status in static_responses), static_responses

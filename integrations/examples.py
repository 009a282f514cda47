"""The source document's example partners, loadable idempotently (`load_example_partners`)."""

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from integrations.config import WEBHOOK_EVENTS
from integrations.models import PartnerIntegration
from integrations.outbound.actions import delivery_cancel
from integrations.secrets import generate_webhook_secret
from integrations.sync.sandbox.world import SANDBOX_STATUS_MAPPING
from orders.selectors import order_for_partner
from orders.services import order_change_status, order_create
from organizations.models import Organization

# The document's "Example Volvo Dealer Integration", verbatim except for its two
# placeholders, "{encrypted_secret}" and "{webhook_secret}", which become generated secrets.
VOLVO_DEALER_INTEGRATION = {
    "integration_name": "volvo_dealer_api",
    "api_base_url": "https://api.volvo-dealer.com/v1",
    "api_version": "1.0",
    "authentication_type": "bearer_token",
    "api_credentials": {
        "client_id": "chargecars_api",
        "client_secret": "{encrypted_secret}",
        "token_endpoint": "https://auth.volvo-dealer.com/oauth/token",
    },
    "webhook_url": "https://partner.volvo.com/webhooks/chargecars",
    "webhook_secret": "{webhook_secret}",
    "webhook_events": ["order_created", "order_approved", "installation_completed"],
    "status_mapping": {
        "chargecars_to_partner": {
            "new": "RECEIVED",
            "approved": "CONFIRMED",
            "in_progress": "IN_PROGRESS",
            "completed": "DELIVERED",
        },
        "partner_to_chargecars": {
            "RECEIVED": "new",
            "CONFIRMED": "approved",
            "IN_PROGRESS": "in_progress",
            "DELIVERED": "completed",
        },
    },
    "is_active": True,
    "sync_enabled": True,
    "sync_frequency": "real_time",
}

ENECO_INTEGRATION = {
    "integration_name": "eneco_api",
    "api_base_url": "https://api.eneco.example/partners",
    "api_version": "2.1",
    "authentication_type": "oauth2",
    "api_credentials": {
        "client_id": "chargecars",
        "client_secret": "{encrypted_secret}",
        "token_endpoint": "https://auth.eneco.example/oauth2/token",
        "scope": "orders:read orders:write",
    },
    "webhook_url": "https://hooks.eneco.example/chargecars",
    "webhook_secret": "{webhook_secret}",
    "webhook_events": [
        "order_created",
        "order_approved",
        "installation_started",
        "installation_completed",
        "order_cancelled",
    ],
    "status_mapping": {
        "chargecars_to_partner": {
            "new": "open",
            "approved": "scheduled",
            "in_progress": "installing",
            "completed": "done",
            "cancelled": "cancelled",
        },
        "partner_to_chargecars": {
            "open": "new",
            "scheduled": "approved",
            "installing": "in_progress",
            "done": "completed",
            "cancelled": "cancelled",
        },
    },
    "is_active": True,
    "sync_enabled": True,
    "sync_frequency": "hourly",
}

INSTALLER_INTEGRATION = {
    "integration_name": "installatiegroep_noord_api",
    "api_base_url": "https://api.installatiegroep-noord.example",
    "api_version": "1",
    "authentication_type": "api_key",
    "api_credentials": {"api_key": "{encrypted_secret}", "header_name": "X-API-Key"},
    "webhook_url": "https://installatiegroep-noord.example/hooks/chargecars",
    "webhook_secret": "{webhook_secret}",
    "webhook_events": ["order_approved", "installation_started", "order_cancelled"],
    "status_mapping": {
        "chargecars_to_partner": {
            "new": "NIEUW",
            "approved": "INGEPLAND",
            "in_progress": "IN_UITVOERING",
            "completed": "AFGEROND",
            "cancelled": "GEANNULEERD",
        },
        "partner_to_chargecars": {
            "NIEUW": "new",
            "INGEPLAND": "approved",
            "IN_UITVOERING": "in_progress",
            "AFGEROND": "completed",
            "GEANNULEERD": "cancelled",
        },
    },
    "is_active": True,
    "sync_enabled": True,
    "sync_frequency": "every_15_minutes",
}


@dataclass
class ExamplePartner:
    organization_name: str
    organization_type: str
    contact_email: str
    integration: dict
    orders: list[dict] = field(default_factory=list)


EXAMPLE_PARTNERS = [
    ExamplePartner(
        "Volvo Car Dealers Nederland",
        "partner_dealer",
        "integrations@volvo-dealer.example",
        VOLVO_DEALER_INTEGRATION,
        orders=[
            {
                "customer_name": "Sanne de Vries",
                "customer_email": "sanne@example.nl",
                "installation_city": "Utrecht",
                "vehicle_model": "Volvo EX30",
                "status": "approved",
                "partner_external_references": {
                    "partner_order_id": "VLV-2025-789123",
                    "partner_customer_id": "CUST-456789",
                    "dealer_group_id": "VAN_MOSSEL_WEST",
                    "partner_invoice_id": "INV-Partner-2025-001",
                    "purchase_order_number": "PO-20250601-001",
                    "external_order_reference": "REF-CHG-789",
                    "partner_system": "volvo_dealer_portal",
                    "sync_last_updated": "2025-06-01T10:30:00Z",
                    "partner_lead_id": "LEAD-789456",
                    "dealer_reference_number": "DLR-REF-2025-123",
                },
            },
            {
                "customer_name": "Daan Jansen",
                "installation_city": "Eindhoven",
                "vehicle_model": "Volvo EX90",
                "status": "new",
                "partner_external_references": {
                    "partner_order_id": "VLV-2025-789124",
                    "dealer_group_id": "VAN_MOSSEL_WEST",
                    "partner_system": "volvo_dealer_portal",
                },
            },
        ],
    ),
    ExamplePartner(
        "Eneco",
        "partner_energy",
        "partners@eneco.example",
        ENECO_INTEGRATION,
        orders=[
            {
                "customer_name": "Fleur Bakker",
                "installation_city": "Rotterdam",
                "status": "in_progress",
                "partner_external_references": {
                    "partner_order_id": "ENC-2025-000042",
                    "partner_customer_id": "ENC-CUST-9911",
                    "partner_system": "eneco_partner_portal",
                },
            },
        ],
    ),
    ExamplePartner(
        "Installatiegroep Noord",
        "partner_installer",
        "planning@installatiegroep-noord.example",
        INSTALLER_INTEGRATION,
    ),
]

_STATUS_PATH = {
    "new": [],
    "approved": ["approved"],
    "in_progress": ["approved", "in_progress"],
    "completed": ["approved", "in_progress", "completed"],
}


EXAMPLE_DELIVERY_NOT_SENT = (
    "Not sent: written when the example data was loaded. Replay it to send it."
)


def _with_generated_secrets(credentials: dict) -> dict:
    return {
        key: generate_webhook_secret()[6:] if value == "{encrypted_secret}" else value
        for key, value in credentials.items()
    }


SANDBOX_INTEGRATION_NAME = "chargecars_sandbox"


def sandbox_integration() -> dict:
    """The integration of the sandbox partner (`manage.py run_partner_sandbox`) on this
    machine: OAuth2 client credentials it accepts, its feed and its webhook receiver."""
    base = f"http://127.0.0.1:{settings.PARTNER_SANDBOX_PORT}"
    return {
        "integration_name": SANDBOX_INTEGRATION_NAME,
        "api_base_url": base,
        "api_version": "1",
        "authentication_type": "oauth2",
        "api_credentials": {
            "client_id": "chargecars",
            "client_secret": "{encrypted_secret}",
            "token_endpoint": f"{base}/oauth/token",
        },
        "webhook_url": f"{base}/webhooks",
        "webhook_secret": "{webhook_secret}",
        "webhook_events": list(WEBHOOK_EVENTS),
        "status_mapping": SANDBOX_STATUS_MAPPING,
        "is_active": True,
        "sync_enabled": True,
        "sync_frequency": "real_time",
    }


def _examples() -> list[ExamplePartner]:
    """The document's partners, and the sandbox partner where partner URLs may be local
    (PARTNER_ALLOW_PRIVATE_NETWORKS: development and tests, never production)."""
    if not settings.PARTNER_ALLOW_PRIVATE_NETWORKS:
        return EXAMPLE_PARTNERS
    sandbox = ExamplePartner(
        "ChargeCars sandbox partner",
        "partner_other",
        "sandbox@chargecars.example",
        sandbox_integration(),
    )
    return [*EXAMPLE_PARTNERS, sandbox]


@transaction.atomic
def example_partners_load() -> dict[str, int]:
    """Create the example organizations, integrations and orders that do not exist yet.

    Existing rows are left as they are (ops may have edited them), so running it again
    changes nothing; generated secrets are made only when an integration is created.
    """
    created = {"organizations": 0, "integrations": 0, "orders": 0}
    for example in _examples():
        values = dict(example.integration)
        name = values.pop("integration_name")
        integration = PartnerIntegration.objects.filter(integration_name=name).first()
        if integration is None:
            # Only with its integration: an existing one keeps its (maybe renamed) organization.
            organization, made = Organization.objects.get_or_create(
                name=example.organization_name,
                defaults={
                    "organization_type": example.organization_type,
                    "contact_email": example.contact_email,
                },
            )
            created["organizations"] += made
            values["api_credentials"] = _with_generated_secrets(values["api_credentials"])
            values["webhook_secret"] = generate_webhook_secret()
            integration = PartnerIntegration(
                partner_organization=organization, integration_name=name, **values
            )
            integration.full_clean()
            integration.save()
            created["integrations"] += 1
        for order_values in example.orders:
            order_values = dict(order_values)
            status = order_values.pop("status")
            references = order_values["partner_external_references"]
            exists = order_for_partner(
                integration_id=integration.pk, partner_order_id=references["partner_order_id"]
            )
            if exists:
                continue
            order = order_create(
                source="system", integration=integration, note="Example data", **order_values
            )
            for step in _STATUS_PATH[status]:
                order_change_status(
                    order=order, to_status=step, source="system", note="Example data"
                )
            # The document's example URLs include real partner domains (partner.volvo.com):
            # loading example data must not send them anything.
            for delivery in order.webhook_deliveries.all():
                delivery_cancel(delivery=delivery, reason=EXAMPLE_DELIVERY_NOT_SENT)
            created["orders"] += 1
    return created

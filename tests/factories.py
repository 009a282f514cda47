import factory

from integrations.examples import VOLVO_DEALER_INTEGRATION
from integrations.models import PartnerIntegration
from integrations.secrets import generate_webhook_secret
from orders.models import Order
from organizations.models import Organization

# The source document's example mapping, as the example partners load it.
VOLVO_STATUS_MAPPING = VOLVO_DEALER_INTEGRATION["status_mapping"]


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Partner {n}")
    organization_type = "partner_dealer"
    contact_email = factory.Sequence(lambda n: f"ops{n}@partner.example")


class PartnerIntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerIntegration

    partner_organization = factory.SubFactory(OrganizationFactory)
    integration_name = factory.Sequence(lambda n: f"partner_{n}_api")
    api_base_url = "https://api.partner.example/v1"
    api_version = "1.0"
    authentication_type = "api_key"
    api_credentials = factory.LazyFunction(lambda: {"api_key": "key-0123456789abcdef"})
    webhook_url = "https://partner.example/webhooks/chargecars"
    webhook_secret = factory.LazyFunction(generate_webhook_secret)
    webhook_events = factory.LazyFunction(
        lambda: ["order_created", "order_approved", "installation_completed"]
    )
    status_mapping = factory.LazyFunction(
        lambda: {k: dict(v) for k, v in VOLVO_STATUS_MAPPING.items()}
    )


class OrderFactory(factory.django.DjangoModelFactory):
    """Creates orders through the status engine, as every real order is."""

    class Meta:
        model = Order

    customer_name = factory.Faker("name")
    customer_email = factory.Faker("email")
    installation_city = "Utrecht"

    @classmethod
    def _create(cls, model_class, *args, integration=None, source="staff", **kwargs):
        from orders.services import order_create

        return order_create(source=source, integration=integration, **kwargs)

import pytest
from django.urls import reverse

from organizations.models import Organization
from tests.factories import OrganizationFactory, PartnerIntegrationFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:organizations_organization_changelist")
ADD_URL = reverse("admin:organizations_organization_add")


def change_url(organization):
    return reverse("admin:organizations_organization_change", args=[organization.pk])


def listed(response):
    return list(response.context["cl"].result_list)


def test_organization_changelist_shows_type_contact_and_integration_count(admin_client):
    volvo = OrganizationFactory(name="Volvo Car Dealers", contact_email="ops@volvo.example")
    PartnerIntegrationFactory.create_batch(2, partner_organization=volvo)

    response = admin_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Volvo Car Dealers" in html
    assert "ops@volvo.example" in html
    assert "Partner: car dealer" in html
    assert [org._integration_count for org in listed(response)] == [2]


def test_organizations_can_be_filtered_by_type_and_active_flag(admin_client):
    eneco = OrganizationFactory(name="Eneco", organization_type="partner_energy")
    OrganizationFactory(name="Van Mossel", organization_type="partner_dealer")
    dormant = OrganizationFactory(name="Old Installer", organization_type="partner_installer")
    dormant.is_active = False
    dormant.save()

    by_type = admin_client.get(CHANGELIST_URL, {"organization_type__exact": "partner_energy"})
    inactive = admin_client.get(CHANGELIST_URL, {"is_active__exact": "0"})

    assert listed(by_type) == [eneco]
    assert listed(inactive) == [dormant]


def test_organization_search_finds_by_name_and_contact(admin_client):
    eneco = OrganizationFactory(name="Eneco", contact_name="Sanne Visser")
    OrganizationFactory(name="Van Mossel")

    assert listed(admin_client.get(CHANGELIST_URL, {"q": "enec"})) == [eneco]
    assert listed(admin_client.get(CHANGELIST_URL, {"q": "visser"})) == [eneco]
    assert listed(admin_client.get(CHANGELIST_URL, {"q": eneco.contact_email})) == [eneco]


def test_organization_change_page_lists_its_integrations_with_links_and_no_secrets(admin_client):
    integration = PartnerIntegrationFactory(
        authentication_type="basic_auth",
        api_credentials={"username": "chargecars", "password": "pa55-w0rd-very-secret"},
    )

    response = admin_client.get(change_url(integration.partner_organization))

    assert response.status_code == 200
    html = response.content.decode()
    link = reverse("admin:integrations_partnerintegration_change", args=[integration.pk])
    assert f'<a href="{link}">{integration.integration_name}</a>' in html
    assert "pa55-w0rd-very-secret" not in html
    assert integration.webhook_secret not in html
    inline = response.context["inline_admin_formsets"][0]
    assert not inline.has_add_permission
    assert not inline.has_delete_permission


def test_organization_add_form_renders_and_creates_an_organization(admin_client):
    assert admin_client.get(ADD_URL).status_code == 200

    response = admin_client.post(
        ADD_URL,
        {
            "name": "Eneco",
            "organization_type": "partner_energy",
            "is_active": "on",
            "contact_email": "partners@eneco.example",
        },
    )

    assert response.status_code == 302
    assert Organization.objects.get().name == "Eneco"


def test_organization_change_page_queries_do_not_grow_with_its_integrations(
    admin_client, django_assert_max_num_queries
):
    organization = OrganizationFactory()
    PartnerIntegrationFactory.create_batch(30, partner_organization=organization)
    admin_client.get(change_url(organization))  # warms the content type cache

    with django_assert_max_num_queries(5):
        response = admin_client.get(change_url(organization))

    assert len(response.context["inline_admin_formsets"][0].formset.forms) == 30


def change_data(organization, integration_count, **overrides):
    data = {
        "name": organization.name,
        "organization_type": organization.organization_type,
        "is_active": "on",
        "contact_email": organization.contact_email,
        "integrations-TOTAL_FORMS": str(integration_count),
        "integrations-INITIAL_FORMS": str(integration_count),
        "integrations-MIN_NUM_FORMS": "0",
        "integrations-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_an_organization_with_integrations_cannot_become_a_non_partner_type(admin_client):
    volvo = OrganizationFactory(name="Volvo Car Dealers", organization_type="partner_dealer")
    PartnerIntegrationFactory(partner_organization=volvo, integration_name="volvo_dealer_api")

    response = admin_client.post(
        change_url(volvo), change_data(volvo, 1, organization_type="customer")
    )

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["organization_type"])
    assert "volvo_dealer_api" in errors
    assert "must stay a partner type" in errors
    volvo.refresh_from_db()
    assert volvo.organization_type == "partner_dealer"


def test_an_organization_with_integrations_may_change_to_another_partner_type(admin_client):
    volvo = OrganizationFactory(name="Volvo Car Dealers", organization_type="partner_dealer")
    PartnerIntegrationFactory(partner_organization=volvo)

    response = admin_client.post(
        change_url(volvo), change_data(volvo, 1, organization_type="partner_other")
    )

    assert response.status_code == 302
    volvo.refresh_from_db()
    assert volvo.organization_type == "partner_other"


def test_an_organization_without_integrations_may_become_a_customer(admin_client):
    shop = OrganizationFactory(name="Shop", organization_type="partner_other")

    response = admin_client.post(
        change_url(shop), change_data(shop, 0, organization_type="customer")
    )

    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.organization_type == "customer"

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

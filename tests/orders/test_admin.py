import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from orders.models import Order, OrderStatusChange
from orders.services import InvalidTransition, order_change_status
from tests.factories import OrderFactory, OrganizationFactory, PartnerIntegrationFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:orders_order_changelist")
ADD_URL = reverse("admin:orders_order_add")
HISTORY_CHANGELIST_URL = reverse("admin:orders_orderstatuschange_changelist")

VOLVO_REFERENCES = {
    "partner_order_id": "VLV-2025-789123",
    "partner_customer_id": "CUST-456789",
    "dealer_group_id": "VAN_MOSSEL_WEST",
    "purchase_order_number": "PO-20250601-001",
}

# Inline formset management form for the (read-only) status history inline.
NO_HISTORY_ROWS = {
    "status_history-TOTAL_FORMS": "0",
    "status_history-INITIAL_FORMS": "0",
    "status_history-MIN_NUM_FORMS": "0",
    "status_history-MAX_NUM_FORMS": "0",
}


def change_url(order):
    return reverse("admin:orders_order_change", args=[order.pk])


def edit_data(order, **overrides):
    data = {
        "customer_name": order.customer_name,
        "customer_email": order.customer_email,
        "installation_city": order.installation_city,
        "installation_country": order.installation_country,
        "partner_external_references": "{}",
        "change_status_to": "",
        "status_note": "",
        **NO_HISTORY_ROWS,
    }
    data.update(overrides)
    return data


def listed(response):
    return list(response.context["cl"].result_list)


def test_order_changelist_shows_number_status_partner_and_partner_order_id(admin_client):
    integration = PartnerIntegrationFactory(partner_organization__name="Van Mossel Volvo")
    order = OrderFactory(integration=integration, partner_external_references=VOLVO_REFERENCES)

    response = admin_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert order.order_number in html
    assert "Van Mossel Volvo" in html
    assert integration.integration_name in html
    assert "VLV-2025-789123" in html
    assert order.customer_name in html


def test_order_add_form_renders_without_status_fields(admin_client):
    response = admin_client.get(ADD_URL)

    assert response.status_code == 200
    assert 'name="change_status_to"' not in response.content.decode()
    assert 'name="status"' not in response.content.decode()


def test_order_add_form_finds_the_source_integration_by_name(admin_client):
    integration = PartnerIntegrationFactory(integration_name="volvo_dealer_api")
    PartnerIntegrationFactory(integration_name="eneco_api")

    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "orders",
            "model_name": "order",
            "field_name": "source_integration",
            "term": "volvo",
        },
    )

    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(integration.pk), "text": "volvo_dealer_api"}]


def test_order_change_form_offers_only_the_allowed_next_statuses(admin_client):
    order = OrderFactory()

    response = admin_client.get(change_url(order))

    assert response.status_code == 200
    choices = [
        value
        for value, _ in response.context["adminform"].form.fields["change_status_to"].widget.choices
    ]
    assert choices == ["", "approved", "cancelled"]
    assert "next: approved, cancelled" in response.content.decode()


def test_adding_an_order_in_the_admin_goes_through_the_status_engine(admin_client, admin_user):
    integration = PartnerIntegrationFactory()

    response = admin_client.post(
        ADD_URL,
        {
            "source_integration": str(integration.pk),
            "partner_external_references": '{"partner_order_id": "VLV-1"}',
            "customer_name": "Anna de Vries",
            "customer_email": "anna@example.nl",
            "installation_country": "NL",
        },
        follow=True,
    )

    assert response.status_code == 200
    order = Order.objects.get()
    assert order.order_number.startswith("CC-")
    assert order.status == "new"
    assert order.source_integration == integration
    assert order.partner_order_id == "VLV-1"
    change = order.status_history.get()
    assert (change.from_status, change.to_status, change.source, change.user) == (
        "",
        "new",
        "staff",
        admin_user,
    )
    assert order.order_number in response.content.decode()


def test_changing_status_in_the_admin_writes_history_with_source_staff_and_the_user(
    admin_client, admin_user
):
    order = OrderFactory()

    response = admin_client.post(
        change_url(order),
        edit_data(order, change_status_to="approved", status_note="Survey done"),
        follow=True,
    )

    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == "approved"
    change = order.status_history.last()
    assert (change.from_status, change.to_status, change.source, change.user, change.note) == (
        "new",
        "approved",
        "staff",
        admin_user,
        "Survey done",
    )


def test_an_invalid_transition_is_shown_as_a_form_error(admin_client):
    order = OrderFactory()

    response = admin_client.post(change_url(order), edit_data(order, change_status_to="completed"))

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["change_status_to"])
    assert "cannot move to 'completed'" in errors
    assert "Allowed next statuses: approved, cancelled" in errors
    order.refresh_from_db()
    assert order.status == "new"
    assert order.status_history.count() == 1


def test_a_status_changed_elsewhere_meanwhile_is_explained_not_crashed_on(admin_client):
    order = OrderFactory()
    admin_client.get(change_url(order))
    order_change_status(order=order, to_status="cancelled", source="system")

    response = admin_client.post(change_url(order), edit_data(order, change_status_to="approved"))

    errors = " ".join(response.context["adminform"].form.errors["change_status_to"])
    assert "is 'cancelled' and cannot move to 'approved'" in errors


def test_editing_an_order_keeps_its_status_and_saves_the_edited_fields(admin_client):
    order = OrderFactory()

    admin_client.post(
        change_url(order),
        edit_data(order, customer_name="Jan Jansen", partner_external_references='{"a": "b"}'),
    )

    order.refresh_from_db()
    assert order.customer_name == "Jan Jansen"
    assert order.partner_external_references == {"a": "b"}
    assert order.status == "new"


def test_partner_references_must_be_a_json_object(admin_client):
    order = OrderFactory()

    response = admin_client.post(
        change_url(order), edit_data(order, partner_external_references='["VLV-1"]')
    )

    errors = " ".join(response.context["adminform"].form.errors["partner_external_references"])
    assert "must be a JSON object" in errors


def test_a_partner_order_id_already_used_by_another_order_is_refused_on_edit(admin_client):
    integration = PartnerIntegrationFactory()
    first = OrderFactory(
        integration=integration, partner_external_references={"partner_order_id": "P1"}
    )
    second = OrderFactory(
        integration=integration, partner_external_references={"partner_order_id": "P2"}
    )

    response = admin_client.post(
        change_url(second),
        edit_data(second, partner_external_references='{"partner_order_id": "P1"}'),
    )

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["partner_external_references"])
    assert f"Order {first.order_number} already has partner_order_id 'P1'" in errors
    second.refresh_from_db()
    assert second.partner_order_id == "P2"


def test_a_partner_order_id_already_used_is_refused_when_adding(admin_client):
    integration = PartnerIntegrationFactory()
    first = OrderFactory(
        integration=integration, partner_external_references={"partner_order_id": "P1"}
    )

    response = admin_client.post(
        ADD_URL,
        {
            "source_integration": str(integration.pk),
            "partner_external_references": '{"partner_order_id": "P1"}',
            "customer_name": "Anna de Vries",
            "installation_country": "NL",
        },
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert f"Order {first.order_number} already has" in " ".join(
        form.errors["partner_external_references"]
    )
    assert not form.non_field_errors()
    assert Order.objects.count() == 1


def test_a_status_note_without_a_status_change_is_refused(admin_client):
    order = OrderFactory()

    response = admin_client.post(change_url(order), edit_data(order, status_note="Called customer"))

    assert "choose a status too" in " ".join(
        response.context["adminform"].form.errors["status_note"]
    )


def test_status_history_inline_is_read_only(admin_client):
    order = OrderFactory()

    response = admin_client.get(change_url(order))

    inline = response.context["inline_admin_formsets"][0]
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert not inline.has_delete_permission
    assert 'name="status_history-0-to_status"' not in response.content.decode()


def test_order_search_finds_an_order_by_dealer_group_id(admin_client):
    integration = PartnerIntegrationFactory()
    wanted = OrderFactory(integration=integration, partner_external_references=VOLVO_REFERENCES)
    OrderFactory(integration=integration, partner_external_references={"dealer_group_id": "OTHER"})

    response = admin_client.get(CHANGELIST_URL, {"q": "van_mossel"})

    assert listed(response) == [wanted]


@pytest.mark.parametrize(
    "term", ["VLV-2025-789123", "PO-20250601-001", "cust-456789", "anna@example.nl", "Anna"]
)
def test_order_search_finds_by_any_partner_reference_or_the_customer(admin_client, term):
    wanted = OrderFactory(
        customer_name="Anna de Vries",
        customer_email="anna@example.nl",
        partner_external_references=VOLVO_REFERENCES,
    )
    OrderFactory(customer_name="Piet Bakker", customer_email="piet@example.nl")

    response = admin_client.get(CHANGELIST_URL, {"q": term})

    assert listed(response) == [wanted]


@pytest.mark.parametrize("term", ["Lüdenscheid", "müller-lüd", "VLV-1"])
def test_order_search_finds_references_with_accents(admin_client, term):
    # SQLite keeps JSON text with \u escapes for non-ASCII characters.
    wanted = OrderFactory(
        partner_external_references={
            "partner_order_id": "VLV-1",
            "dealer_reference_number": "Müller-Lüdenscheid",
        }
    )
    OrderFactory(partner_external_references={"partner_order_id": "VLV-2"})

    response = admin_client.get(CHANGELIST_URL, {"q": term})

    assert listed(response) == [wanted]


def test_order_search_finds_by_order_number(admin_client):
    wanted, _other = OrderFactory(), OrderFactory()

    response = admin_client.get(CHANGELIST_URL, {"q": wanted.order_number})

    assert listed(response) == [wanted]


def test_orders_can_be_filtered_by_partner_integration_and_status(admin_client):
    volvo, eneco = PartnerIntegrationFactory(), PartnerIntegrationFactory()
    wanted = OrderFactory(integration=volvo)
    OrderFactory(integration=eneco)
    staff_order = OrderFactory()
    order_change_status(order=staff_order, to_status="approved", source="staff")

    assert listed(admin_client.get(CHANGELIST_URL, {"integration": str(volvo.pk)})) == [wanted]
    assert listed(admin_client.get(CHANGELIST_URL, {"integration": "none"})) == [staff_order]
    assert listed(admin_client.get(CHANGELIST_URL, {"status__exact": "approved"})) == [staff_order]


def test_bulk_approve_reports_which_orders_changed_and_which_could_not(admin_client, admin_user):
    first, second, done = OrderFactory(), OrderFactory(), OrderFactory()
    order_change_status(order=done, to_status="cancelled", source="staff")

    response = admin_client.post(
        CHANGELIST_URL,
        {
            "action": "change_status_to_approved",
            "_selected_action": [str(first.pk), str(second.pk), str(done.pk)],
        },
        follow=True,
    )

    html = response.content.decode()
    assert "Approved 2 orders." in html
    assert "1 order not changed" in html
    assert f"Order {done.order_number} is &#x27;cancelled&#x27; and cannot move" in html
    for order in (first, second):
        change = order.status_history.last()
        assert (change.to_status, change.source, change.user) == ("approved", "staff", admin_user)


@pytest.mark.parametrize(
    ("action", "start", "expected"),
    [
        ("change_status_to_in_progress", ["approved"], "in_progress"),
        ("change_status_to_completed", ["approved", "in_progress"], "completed"),
        ("change_status_to_cancelled", [], "cancelled"),
    ],
)
def test_bulk_status_actions_move_orders_through_the_engine(admin_client, action, start, expected):
    order = OrderFactory()
    for status in start:
        order_change_status(order=order, to_status=status, source="staff")

    admin_client.post(CHANGELIST_URL, {"action": action, "_selected_action": [str(order.pk)]})

    order.refresh_from_db()
    assert order.status == expected


def test_status_history_changelist_is_read_only_and_lists_changes(admin_client):
    order = OrderFactory()

    response = admin_client.get(HISTORY_CHANGELIST_URL)

    assert response.status_code == 200
    assert order.order_number in response.content.decode()
    assert "Add status change" not in response.content.decode()


MAX_QUERIES_PER_PAGE = 8


def _bulk_orders(count, integrations):
    user = User.objects.first()
    orders = []
    for n in range(count):
        integration = integrations[n % len(integrations)] if n % 3 else None
        references = (
            {"partner_order_id": f"P-{n:06d}", "dealer_group_id": f"DG-{n % 50}"}
            if integration
            else {}
        )
        orders.append(
            Order(
                order_number=f"CC-2025-{n + 100000:06d}",
                source_integration=integration,
                customer_name=f"Customer {n}",
                customer_email=f"c{n}@example.nl",
                partner_external_references=references,
            )
        )
    Order.objects.bulk_create(orders, batch_size=2000)
    OrderStatusChange.objects.bulk_create(
        [
            OrderStatusChange(
                order=order,
                from_status="",
                to_status="new",
                source="partner" if order.source_integration else "staff",
                integration=order.source_integration,
                user=None if order.source_integration else user,
            )
            for order in orders
        ],
        batch_size=2000,
    )
    return orders


def _query_counts(client, urls, assert_max_num_queries):
    counts = {}
    for url in urls:
        with assert_max_num_queries(MAX_QUERIES_PER_PAGE) as queries:
            response = client.get(url)
        assert response.status_code == 200, url
        counts[url] = len(queries)
    return counts


MAX_QUERIES_PER_PAGE = 12


def test_every_admin_page_runs_a_constant_number_of_queries_with_10000_orders(
    admin_client, django_assert_max_num_queries
):
    integrations = [
        PartnerIntegrationFactory(partner_organization=OrganizationFactory()) for _ in range(5)
    ]
    sample = OrderFactory(integration=integrations[0], partner_external_references=VOLVO_REFERENCES)
    for status in ("approved", "in_progress"):
        order_change_status(order=sample, to_status=status, source="staff")
    urls = [
        CHANGELIST_URL,
        CHANGELIST_URL + "?q=DG-7",
        CHANGELIST_URL + f"?integration={integrations[1].pk}&status__exact=new",
        change_url(sample),
        ADD_URL,
        HISTORY_CHANGELIST_URL,
        reverse("admin:integrations_partnerintegration_changelist"),
        reverse("admin:integrations_partnerintegration_change", args=[integrations[0].pk]),
        reverse("admin:organizations_organization_changelist"),
        reverse(
            "admin:organizations_organization_change",
            args=[integrations[0].partner_organization_id],
        ),
    ]
    _query_counts(
        admin_client, urls, django_assert_max_num_queries
    )  # warms per-process caches (content types)
    few = _query_counts(admin_client, urls, django_assert_max_num_queries)

    _bulk_orders(10_000, integrations)
    OrderStatusChange.objects.bulk_create(
        OrderStatusChange(order=sample, from_status="new", to_status="new", source="sync")
        for _ in range(50)
    )
    many = _query_counts(admin_client, urls, django_assert_max_num_queries)

    assert Order.objects.count() == 10_001
    assert many == few


def test_a_status_refused_at_save_time_keeps_nothing_of_the_edit(admin_client, monkeypatch):
    from orders import services as orders_services

    order = OrderFactory(customer_name="Sanne de Vries")

    def refused_at_save(*, order, to_status, **kwargs):
        # Another operator cancelled the order between form validation and saving.
        raise InvalidTransition(
            order=Order(order_number=order.order_number, status="cancelled"), to_status=to_status
        )

    monkeypatch.setattr(orders_services, "order_change_status", refused_at_save)

    response = admin_client.post(
        change_url(order),
        edit_data(order, customer_name="Jan Jansen", change_status_to="approved"),
        follow=True,
    )

    page = response.content.decode()
    assert "Nothing was saved" in page
    assert "is &#x27;cancelled&#x27; and cannot move to &#x27;approved&#x27;" in page
    assert "was changed successfully" not in page
    order.refresh_from_db()
    assert (order.customer_name, order.status) == ("Sanne de Vries", "new")


@pytest.mark.parametrize(
    ("stored", "typed"),
    [(123, '"123"'), ("123", "123")],
    ids=["stored-number-typed-text", "stored-text-typed-number"],
)
def test_a_partner_order_id_used_as_number_or_text_is_the_same_id_on_edit(
    admin_client, stored, typed
):
    integration = PartnerIntegrationFactory()
    first = OrderFactory(
        integration=integration, partner_external_references={"partner_order_id": stored}
    )
    second = OrderFactory(
        integration=integration, partner_external_references={"partner_order_id": "P2"}
    )

    response = admin_client.post(
        change_url(second),
        edit_data(second, partner_external_references=f'{{"partner_order_id": {typed}}}'),
    )

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.errors["partner_external_references"])
    assert f"Order {first.order_number} already has partner_order_id" in errors
    second.refresh_from_db()
    assert second.partner_order_id == "P2"

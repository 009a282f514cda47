import pytest
from django.core.exceptions import ValidationError

from orders.models import Order, OrderStatusChange
from orders.services import InvalidTransition, order_change_status, order_create
from orders.signals import order_status_changed
from tests.factories import OrderFactory, PartnerIntegrationFactory

pytestmark = pytest.mark.django_db


def test_order_create_gives_a_human_number_status_new_and_a_history_row():
    order = order_create(source="staff", customer_name="Sanne de Vries")

    assert order.status == "new"
    assert order.order_number.startswith("CC-")
    year, sequence = order.order_number.split("-")[1:]
    assert len(year) == 4 and len(sequence) == 6
    change = order.status_history.get()
    assert (change.from_status, change.to_status, change.source) == ("", "new", "staff")


def test_order_numbers_are_unique_and_increasing():
    first = order_create(source="staff", customer_name="A")
    second = order_create(source="staff", customer_name="B")

    assert first.order_number < second.order_number


def test_the_full_lifecycle_is_recorded_in_history_in_order():
    integration = PartnerIntegrationFactory()
    order = OrderFactory(integration=integration, source="partner")

    for status in ("approved", "in_progress", "completed"):
        order_change_status(
            order=order, to_status=status, source="partner", integration=integration
        )

    order.refresh_from_db()
    assert order.status == "completed"
    assert list(order.status_history.values_list("from_status", "to_status", "source")) == [
        ("", "new", "partner"),
        ("new", "approved", "partner"),
        ("approved", "in_progress", "partner"),
        ("in_progress", "completed", "partner"),
    ]


@pytest.mark.parametrize("status", ["new", "approved", "in_progress"])
def test_cancelling_is_allowed_from_every_non_final_status(status):
    order = OrderFactory()
    path = {"new": [], "approved": ["approved"], "in_progress": ["approved", "in_progress"]}
    for step in path[status]:
        order_change_status(order=order, to_status=step, source="staff")

    order_change_status(order=order, to_status="cancelled", source="staff", note="Customer left")

    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert order.status_history.last().note == "Customer left"


def test_an_invalid_transition_names_the_current_status_and_the_allowed_ones():
    order = OrderFactory()

    with pytest.raises(InvalidTransition) as error:
        order_change_status(order=order, to_status="completed", source="staff")

    assert "is 'new'" in error.value.message
    assert "approved, cancelled" in error.value.message
    assert Order.objects.get(pk=order.pk).status == "new"
    assert order.status_history.count() == 1


def test_a_final_status_allows_nothing_further():
    order = OrderFactory()
    order_change_status(order=order, to_status="cancelled", source="staff")

    with pytest.raises(InvalidTransition) as error:
        order_change_status(order=order, to_status="approved", source="staff")

    assert "none (it is final)" in error.value.message


def test_an_unknown_status_is_refused():
    order = OrderFactory()

    with pytest.raises(ValidationError, match="'shipped' is not a ChargeCars status"):
        order_change_status(order=order, to_status="shipped", source="staff")


def test_a_change_made_from_a_stale_copy_checks_against_the_stored_status():
    order = OrderFactory()
    stale_copy = Order.objects.get(pk=order.pk)
    order_change_status(order=order, to_status="cancelled", source="staff")

    with pytest.raises(InvalidTransition, match="is 'cancelled'"):
        order_change_status(order=stale_copy, to_status="approved", source="staff")


def test_status_change_hook_fires_inside_the_transaction_and_rolls_back_with_it():
    order = OrderFactory()

    def failing_receiver(sender, order, change, **kwargs):
        raise RuntimeError("notification outbox unavailable")

    order_status_changed.connect(failing_receiver)
    try:
        with pytest.raises(RuntimeError):
            order_change_status(order=order, to_status="approved", source="staff")
    finally:
        order_status_changed.disconnect(failing_receiver)

    assert Order.objects.get(pk=order.pk).status == "new"
    assert OrderStatusChange.objects.filter(order=order).count() == 1


def test_the_database_checks_accept_the_order_number_default():
    from django.core.management import call_command

    call_command("check", databases=["default"], fail_level="ERROR")

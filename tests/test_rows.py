"""chargecars.rows writes and reads rows exactly as save() and the ORM would."""

import datetime
import uuid

import pytest
from django.db import DatabaseError, connection
from django.db.models import F
from django.db.models.signals import post_save, pre_save

from chargecars.rows import row_insert, row_load, row_update
from orders.models import Order, OrderNumber
from tests.factories import OrderFactory, PartnerIntegrationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def saved_signals():
    received = []

    def pre(sender, instance, update_fields, **kwargs):
        received.append(("pre", sender, instance, update_fields))

    def post(sender, instance, created, update_fields, **kwargs):
        received.append(("post", sender, instance, created, update_fields))

    pre_save.connect(pre, sender=Order)
    post_save.connect(post, sender=Order)
    yield received
    pre_save.disconnect(pre, sender=Order)
    post_save.disconnect(post, sender=Order)


def test_insert_stores_every_field_as_the_orm_reads_it_back(saved_signals):
    integration = PartnerIntegrationFactory()
    order = Order(
        order_number=f"CC-TEST-{uuid.uuid4().hex[:6]}",
        source_integration=integration,
        customer_name="Sanne de Vries",
        customer_email="sanne@example.nl",
        requested_installation_date=datetime.date(2025, 7, 1),
        partner_external_references={"partner_order_id": "VLV-1", "nested": {"a": [1, 2]}},
    )

    row_insert(order)

    stored = Order.objects.get(pk=order.pk)
    assert stored.order_number == order.order_number
    assert stored.source_integration_id == integration.pk
    assert stored.requested_installation_date == datetime.date(2025, 7, 1)
    assert stored.partner_external_references == {
        "partner_order_id": "VLV-1",
        "nested": {"a": [1, 2]},
    }
    assert stored.created_at == order.created_at is not None  # auto_now_add filled in
    assert order._state.adding is False
    assert [s[:2] for s in saved_signals] == [("pre", Order), ("post", Order)]
    assert saved_signals[1][3] is True  # created


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL numbers in the INSERT")
def test_insert_returns_what_the_database_fills_in():
    order = Order(customer_name="Sanne de Vries")  # order_number is the database's default

    row_insert(order)

    assert order.order_number.startswith(f"CC-{datetime.date.today().year}-")
    assert Order.objects.get(pk=order.pk).order_number == order.order_number


def test_insert_returns_the_automatic_primary_key():
    first, second = row_insert(OrderNumber()), row_insert(OrderNumber())

    assert second.pk == first.pk + 1
    assert OrderNumber.objects.filter(pk__in=[first.pk, second.pk]).count() == 2


def test_update_writes_only_the_named_fields_and_bumps_auto_now(saved_signals):
    order = OrderFactory()
    before = order.updated_at
    Order.objects.filter(pk=order.pk).update(customer_name="Changed elsewhere")
    order.status = "approved"
    order.customer_name = "Not to be saved"

    row_update(order, ("status", "updated_at"))

    stored = Order.objects.get(pk=order.pk)
    assert stored.status == "approved"
    assert stored.customer_name == "Changed elsewhere"
    assert stored.updated_at == order.updated_at > before
    assert saved_signals[-1][3:] == (False, frozenset({"status", "updated_at"}))


def test_update_of_a_deleted_row_fails_loudly():
    order = OrderFactory()
    Order.objects.filter(pk=order.pk).delete()
    order.status = "approved"

    with pytest.raises(DatabaseError, match="was not updated"):
        row_update(order, ("status",))


def test_expressions_are_refused_rather_than_saved_wrongly():
    order = OrderFactory()
    order.customer_name = F("customer_email")

    with pytest.raises(TypeError, match="expressions need save"):
        row_update(order, ("customer_name",))
    assert Order.objects.get(pk=order.pk).customer_name != order.customer_email


def test_load_builds_the_same_instance_as_the_orm():
    order = OrderFactory(partner_external_references={"partner_order_id": "X-1"})
    sql, params = Order.objects.filter(pk=order.pk).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        loaded = row_load(Order, cursor.fetchone())

    expected = Order.objects.get(pk=order.pk)
    for field in Order._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert loaded._state.adding is False

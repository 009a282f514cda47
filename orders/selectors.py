"""Reads of orders that several callers share: finding an order by its partner order id."""

import functools
import json
import uuid
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Q, QuerySet, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, In

from chargecars.rows import row_load
from orders.models import Order

_INTEGRATION_PLACEHOLDER = uuid.UUID(int=0)
_PARTNER_ORDER_ID_PLACEHOLDER = "\x00partner_order_id"


@dataclass(frozen=True)
class _Argument:
    name: str


@functools.cache
def _order_for_partner_sql(alias: str, vendor: str, lock: bool) -> tuple[str, tuple]:
    """The lookup's SQL, compiled once per database, and which argument each parameter is.

    Building and compiling this queryset cost more CPU than running it (about a quarter
    of a status update), and the SQL never changes: only the two values do.
    """
    # Exact(KT(...)) compiles to the indexed expression (->> on PostgreSQL); the usual
    # JSON key lookup would compare jsonb values and miss the index.
    orders = Order.objects.using(alias).filter(
        Exact(KT("partner_external_references__partner_order_id"), _PARTNER_ORDER_ID_PLACEHOLDER),
        source_integration_id=_INTEGRATION_PLACEHOLDER,
    )
    if lock:
        orders = orders.select_for_update()
    sql, params = orders[:1].query.sql_with_params()
    arguments = {
        _PARTNER_ORDER_ID_PLACEHOLDER: _Argument("partner_order_id"),
        str(_INTEGRATION_PLACEHOLDER): _Argument("integration_id"),
        _INTEGRATION_PLACEHOLDER.hex: _Argument("integration_id"),
    }
    return sql, tuple(arguments.get(str(param), param) for param in params)


def order_for_partner(*, integration_id, partner_order_id: str, lock: bool = False) -> Order | None:
    """The integration's order with this partner order id (uses the expression index).

    ``lock`` takes the row FOR UPDATE. Any string is looked up as given; callers that
    accept ids from outside decide which ids cannot exist before asking.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    sql, params = _order_for_partner_sql(DEFAULT_DB_ALIAS, connection.vendor, lock)
    integration_id = Order._meta.get_field("source_integration").get_db_prep_value(
        integration_id, connection
    )
    values = {"partner_order_id": partner_order_id, "integration_id": integration_id}
    params = [values[p.name] if isinstance(p, _Argument) else p for p in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row_load(Order, row) if row is not None else None


def orders_with_partner_order_id(*, integration_id, partner_order_id) -> QuerySet:
    """The integration's orders whose partner_order_id is this id in any JSON form.

    Staff may type an id as a number or as text. The unique constraint compares the id
    as text (->>), so 123 and "123" are the same id whichever of the two is stored. The
    partner API, whose ids are always strings, uses the faster ``order_for_partner``.
    """
    if isinstance(partner_order_id, str):
        as_text = partner_order_id
    else:
        as_text = json.dumps(partner_order_id)
    same_id = (
        Q(partner_external_references__partner_order_id=partner_order_id)
        | Q(partner_external_references__partner_order_id=as_text)
        | Q(_partner_order_id_text=as_text)
    )
    return Order.objects.alias(
        _partner_order_id_text=Cast(
            KT("partner_external_references__partner_order_id"), TextField()
        )
    ).filter(same_id, source_integration_id=integration_id)


def orders_for_partner_ids(
    *, integration_id, partner_order_ids, lock: bool = False
) -> dict[str, Order]:
    """The integration's orders with these (text) partner order ids, by id: one query for
    a whole page of a partner's feed (uses the expression index). ``lock`` takes the rows
    FOR UPDATE, in id order (no deadlock between two callers)."""
    if not partner_order_ids:
        return {}
    # In(KT(...)) compiles to the indexed text expression, as Exact does in the lookup above.
    orders = Order.objects.filter(
        In(KT("partner_external_references__partner_order_id"), list(partner_order_ids)),
        source_integration_id=integration_id,
    ).order_by("pk")
    if lock:
        orders = orders.select_for_update()
    return {order.partner_order_id: order for order in orders}

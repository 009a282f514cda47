import pytest
from django.db import connection

from orders.models import Order

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL prepares statements"),
]


def test_a_statement_run_repeatedly_is_prepared_once_per_connection():
    for name in ("a", "b", "c", "d", "e", "f"):
        Order.objects.filter(customer_name=name).exists()

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('"customer_name" = $2' in statement for statement in prepared), prepared

"""The floor: the least a Django view can do with a partner request (parse, one INSERT)."""

import json

from django.db import connection
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

FLOOR_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_floor "
    "(id bigserial PRIMARY KEY, partner_order_id text NOT NULL, body jsonb NOT NULL)"
)


@csrf_exempt
def floor_view(request):
    data = json.loads(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_floor (partner_order_id, body) VALUES (%s, %s) RETURNING id",
            [data["partner_order_id"], request.body.decode()],
        )
        (row_id,) = cursor.fetchone()
    return HttpResponse(json.dumps({"id": row_id}), status=201, content_type="application/json")

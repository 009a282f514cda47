"""An experiment for `BENCH_LEAN=1 make bench-api`: what a create costs with one statement.

The partner API's checks as they are (``inbound_request_admit``: integration, size,
content type, signature, rate limit) and its serializer, then the order, its history row
and the inbound event written by one PostgreSQL statement in autocommit, without model
instances, the status engine or the outbox hook. Creates only, and none of the API's error handling:
it shows how far the design's per-request work is from the bench target, nothing more.
Exists only under bench.settings.
"""

import json
import uuid

from django.db import connection
from django.http import HttpResponse
from django.utils import timezone

from chargecars.wire import rfc3339
from integrations.api.gate import inbound_request_admit
from integrations.api.partner_orders import REFERENCE_FIELDS
from integrations.api.serializers import OrderCreateRequestSerializer, validated
from integrations.api.views import PartnerAPIView
from integrations.models import InboundEvent

ORDER_DETAILS = (
    ("customer_name", ""),
    ("customer_email", ""),
    ("customer_phone", ""),
    ("installation_street", ""),
    ("installation_postal_code", ""),
    ("installation_city", ""),
    ("installation_country", "NL"),
    ("vehicle_model", ""),
    ("charger_model", ""),
    ("requested_installation_date", None),
    ("notes", ""),
)

CREATE_SQL = """
WITH new_order AS (
    INSERT INTO orders (id, created_at, updated_at, status, source_integration_id,
        customer_name, customer_email, customer_phone, installation_street,
        installation_postal_code, installation_city, installation_country, vehicle_model,
        charger_model, requested_installation_date, notes, partner_external_references)
    VALUES (%s, %s, %s, 'new', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id, order_number
), history AS (
    INSERT INTO order_status_history (order_id, from_status, to_status, source, integration_id,
        note, inbound_event_id, created_at)
    SELECT id, '', 'new', 'partner', %s, 'Created by the partner API.', %s, %s FROM new_order
), event AS (
    INSERT INTO partner_inbound_events (id, kind, action, webhook_id, received_at, remote_addr,
        method, path, headers, body, body_truncated, signature_verdict, outcome,
        response_status, response_body, error, partner_order_id, integration_id, order_id)
    SELECT %s, 'request', 'order_create', %s, %s, %s, 'POST', %s, %s, %s, false, 'valid',
        'created', 201, %s::jsonb || jsonb_build_object('order_number', order_number), '',
        %s, %s, id
    FROM new_order
    RETURNING id
)
SELECT order_number FROM new_order, event
"""


class LeanCreateView(PartnerAPIView):
    action = InboundEvent.Action.ORDER_CREATE

    def post(self, request, integration_name: str):
        received = inbound_request_admit(
            request._request, action=self.action, integration_name=integration_name
        )
        integration = received.integration
        data = validated(OrderCreateRequestSerializer, json.loads(received.body))
        now = timezone.now()
        stamp = rfc3339(now)
        references = {"partner_order_id": data["partner_order_id"]}
        references.update({key: data[key] for key in REFERENCE_FIELDS if data.get(key)})
        references.setdefault("partner_system", integration.integration_name)
        references["sync_last_updated"] = stamp
        order_id, event_id = uuid.uuid4(), uuid.uuid4()
        answer = {
            "id": str(order_id),
            "status": integration.partner_status_for("new"),
            "partner_order_id": data["partner_order_id"],
            "partner_external_references": references,
            "created_at": stamp,
            "updated_at": stamp,
        }
        details = [data.get(name, default) for name, default in ORDER_DETAILS]
        parameters = [
            *(order_id, now, now, integration.pk, *details, json.dumps(references)),
            *(integration.pk, event_id, now),
            *(event_id, received.webhook_id, now, received.remote_addr, received.path),
            *(json.dumps(received.headers), received.body.decode(), json.dumps(answer)),
            *(data["partner_order_id"], integration.pk),
        ]
        with connection.cursor() as cursor:
            cursor.execute(CREATE_SQL, parameters)
            (answer["order_number"],) = cursor.fetchone()
        return HttpResponse(json.dumps(answer), status=201, content_type="application/json")

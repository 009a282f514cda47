"""The issue's reference point: a typical hand-written DRF endpoint, for comparison only.

Standard Webhooks verification with one secret, serializer validation, one ModelSerializer
create in autocommit, persistent connections. No idempotency, audit log, rate limit, status
engine or history: what the partner API adds on top. Exists only under bench.settings.
"""

import functools

from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.models import PartnerIntegration
from orders.models import Order


class TypicalOrderSerializer(serializers.ModelSerializer):
    partner_order_id = serializers.CharField(max_length=100, write_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "order_number",
            "partner_order_id",
            "customer_name",
            "customer_email",
            "installation_city",
            "status",
        ]
        read_only_fields = ["id", "order_number", "status"]
        extra_kwargs = {"customer_name": {"required": False, "default": "Unknown"}}

    def create(self, validated_data):
        partner_order_id = validated_data.pop("partner_order_id")
        return Order.objects.create(
            partner_external_references={"partner_order_id": partner_order_id},
            **validated_data,
        )


@functools.cache
def _webhook() -> Webhook:
    # Read once per process, as from settings: the typical endpoint pays no lookup.
    return Webhook(PartnerIntegration.objects.get(integration_name="bench_partner").webhook_secret)


class TypicalOrderView(APIView):
    authentication_classes = ()
    permission_classes = ()

    def post(self, request):
        try:
            _webhook().verify(request.body, request.headers)
        except WebhookVerificationError as exc:
            raise AuthenticationFailed(str(exc)) from None
        serializer = TypicalOrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=status.HTTP_201_CREATED)

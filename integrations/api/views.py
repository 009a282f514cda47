"""The partner API: thin views. Pass the gate, apply the request once, send the answer."""

import json

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from integrations.api.errors import PROBLEM_CONTENT_TYPE
from integrations.api.gate import inbound_request_admit
from integrations.api.inbound import inbound_request_process
from integrations.api.schema import (
    BODY_ERRORS,
    COMMON_ERRORS,
    DOC_TAGS,
    RESPONSE_HEADERS,
    SIGNATURE_PARAMETERS,
    VOLVO_ORDER_EXAMPLE,
    problem_schema,
)
from integrations.api.serializers import (
    OrderCreateRequestSerializer,
    PartnerOrderSerializer,
    StatusUpdateRequestSerializer,
    StatusUpdateResponseSerializer,
)
from integrations.models import InboundEvent


class IgnoreAccept(BaseContentNegotiation):
    """Answers are always JSON; an odd Accept header is no reason to refuse a partner."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class PartnerAPIView(APIView):
    """Base of the partner endpoints: the request gate (``gate.CHECKS``; its refusals are
    stored as inbound events), then ``inbound_request_process``, which applies the verified
    request at most once and stores the answer it sends.
    """

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()
    # Declares application/json for the schema; request.data is never used, because the
    # signature covers the exact bytes and the body is read raw.
    parser_classes = (JSONParser,)
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = IgnoreAccept
    # No OPTIONS (DRF would describe the endpoint to unsigned callers): it answers 405.
    http_method_names = ["get", "post", "head"]
    action: str = ""

    def respond(self, request, integration_name: str, partner_order_id: str = ""):
        received = inbound_request_admit(
            request._request,
            action=self.action,
            integration_name=integration_name,
            partner_order_id=partner_order_id,
        )
        event = inbound_request_process(request=received)
        status = event.response_status
        response = HttpResponse(
            json.dumps(event.response_body),
            status=status,
            content_type=PROBLEM_CONTENT_TYPE if status >= 400 else "application/json",
        )
        if event.kind == InboundEvent.Kind.DUPLICATE:
            response["Idempotent-Replayed"] = "true"
        return response


class OrderCreateView(PartnerAPIView):
    action = InboundEvent.Action.ORDER_CREATE

    @extend_schema(
        operation_id="createOrderFromPartner",
        summary="Create an order (createOrderFromPartner)",
        description="Creates an order in status `new`. The same `partner_order_id` again "
        "answers 200 with the existing order and creates nothing.",
        tags=DOC_TAGS,
        parameters=SIGNATURE_PARAMETERS + RESPONSE_HEADERS,
        request=OrderCreateRequestSerializer,
        responses={
            201: OpenApiResponse(PartnerOrderSerializer, description="Created."),
            200: OpenApiResponse(PartnerOrderSerializer, description="Already existed."),
            422: problem_schema("Invalid fields; `errors` per field."),
            **COMMON_ERRORS,
            **BODY_ERRORS,
        },
        examples=[VOLVO_ORDER_EXAMPLE],
    )
    def post(self, request, integration_name: str):
        return self.respond(request, integration_name)


class StatusUpdateView(PartnerAPIView):
    action = InboundEvent.Action.STATUS_UPDATE

    @extend_schema(
        operation_id="processPartnerStatusUpdate",
        summary="Update an order's status (processPartnerStatusUpdate)",
        description="`status` is in your vocabulary (status_mapping). A status the order "
        "already has changes nothing (200, `outcome: unchanged`); an update older than the "
        "last one recorded is ignored (200, `outcome: stale`).",
        tags=DOC_TAGS,
        parameters=SIGNATURE_PARAMETERS + RESPONSE_HEADERS,
        request=StatusUpdateRequestSerializer,
        responses={
            200: StatusUpdateResponseSerializer,
            409: problem_schema("The status engine refuses this transition; see current_status."),
            422: problem_schema(
                "Unknown partner status (allowed_statuses lists them) or bad fields."
            ),
            **COMMON_ERRORS,
            **BODY_ERRORS,
        },
    )
    def post(self, request, integration_name: str, partner_order_id: str):
        return self.respond(request, integration_name, partner_order_id)


class OrderDetailView(PartnerAPIView):
    action = InboundEvent.Action.ORDER_READ

    @extend_schema(
        operation_id="getPartnerOrder",
        summary="Read an order",
        description="The order as you see it: your status vocabulary and your references. "
        "Sign it like any request, over an empty body.",
        tags=DOC_TAGS,
        parameters=SIGNATURE_PARAMETERS + RESPONSE_HEADERS,
        responses={200: PartnerOrderSerializer, **COMMON_ERRORS},
    )
    def get(self, request, integration_name: str, partner_order_id: str):
        return self.respond(request, integration_name, partner_order_id)

"""The partner API: thin views. Verify the request, call one service, shape the answer."""

import json
from typing import NoReturn

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from integrations import inbound
from integrations.api import schema  # noqa: F401  (registers the OpenAPI serializer extension)
from integrations.api.errors import PROBLEM_CONTENT_TYPE, ProblemError
from integrations.api.serializers import (
    OrderCreateRequestSerializer,
    PartnerOrderSerializer,
    ProblemSerializer,
    StatusUpdateRequestSerializer,
    StatusUpdateResponseSerializer,
)
from integrations.models import InboundEvent, PartnerIntegration
from integrations.ratelimit import rate_limit_hit
from integrations.signing import SignatureError, webhook_request_verify

Outcome = InboundEvent.Outcome
Verdict = InboundEvent.Verdict


# Content-Encoding values that compress the body: Django does not decompress it, so the
# signature check would fail with a misleading reason. (Other values, such as the "utf-8"
# some clients put there by mistake, change nothing and are let through.)
COMPRESSIONS = frozenset({"gzip", "x-gzip", "deflate", "br", "compress", "x-compress", "zstd"})


class IgnoreAccept(BaseContentNegotiation):
    """Answers are always JSON; an odd Accept header is no reason to refuse a partner."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _integration(integration_name: str, *, fresh: bool = False) -> PartnerIntegration:
    integration = inbound.integration_for_api(integration_name, fresh=fresh)
    if integration is None:
        raise ProblemError("not-found", f"There is no integration {integration_name!r}.")
    return integration


def _unsupported_media(django_request) -> str:
    """Why a POST body cannot be read as sent (wrong content type, compressed), or ""."""
    content_type = django_request.content_type or ""
    if content_type != "application/json":
        return (
            f"Content-Type {content_type or '(none)'!r} is not supported; send the body as "
            "application/json."
        )
    encoding = django_request.META.get("HTTP_CONTENT_ENCODING", "").lower()
    if COMPRESSIONS.intersection(part.strip() for part in encoding.split(",")):
        return f"Content-Encoding {encoding[:50]!r} is not supported; send the body uncompressed."
    return ""


class PartnerAPIView(APIView):
    """Base of the partner endpoints: the checks every request passes, in this order.

    Unknown integration (404), disabled integration (403), body of unknown length (411),
    body too large (413), wrong content type (415), signature (401), rate limit (429); the
    refusals after the first are stored as inbound events. Then the verified request goes to
    ``inbound.inbound_request_process``, which applies it at most once.
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

    def _refuse(self, request, verdict: str, outcome: str, problem: ProblemError) -> NoReturn:
        inbound.inbound_event_record_refusal(
            request=request, verdict=verdict, outcome=outcome, problem=problem
        )
        raise problem

    def verified_request(
        self, request, integration_name: str, partner_order_id: str = ""
    ) -> inbound.InboundRequest:
        django_request = request._request
        integration = _integration(integration_name)
        received = inbound.InboundRequest(
            integration=integration,
            action=self.action,
            method=django_request.method,
            path=django_request.path,
            headers=inbound.headers_sanitised(django_request.headers),
            remote_addr=django_request.META.get("REMOTE_ADDR") or None,
            partner_order_id=partner_order_id,
        )
        if not integration.is_active:
            self._refuse(
                received,
                Verdict.NOT_CHECKED,
                Outcome.FORBIDDEN,
                ProblemError(
                    "integration-disabled",
                    f"The integration {integration_name!r} is disabled; ChargeCars accepts "
                    "no requests for it. Contact ChargeCars operations.",
                ),
            )
        meta = django_request.META
        if (
            django_request.method == "POST"
            and meta.get("HTTP_TRANSFER_ENCODING")
            and not meta.get("CONTENT_LENGTH")
        ):
            # Django reads no body without a Content-Length: the signature check would fail
            # on an empty body with a misleading "No signature matches".
            self._refuse(
                received,
                Verdict.NOT_CHECKED,
                Outcome.REJECTED,
                ProblemError(
                    "length-required",
                    "The body came without a Content-Length header (Transfer-Encoding: "
                    f"{meta['HTTP_TRANSFER_ENCODING'][:50]}), so it cannot be read; send it "
                    "with a Content-Length header, not streamed.",
                ),
            )
        limit = settings.PARTNER_API_MAX_BODY_BYTES
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        too_large = ProblemError(
            "payload-too-large", f"The body is larger than the limit of {limit} bytes."
        )
        if declared > limit:
            self._refuse(received, Verdict.NOT_CHECKED, Outcome.TOO_LARGE, too_large)
        try:
            body = django_request.body
        except RequestDataTooBig:  # DATA_UPLOAD_MAX_MEMORY_SIZE, if set below our limit
            self._refuse(received, Verdict.NOT_CHECKED, Outcome.TOO_LARGE, too_large)
        if len(body) > limit:
            self._refuse(received, Verdict.NOT_CHECKED, Outcome.TOO_LARGE, too_large)
        received.body = body
        if django_request.method == "POST" and (unsupported := _unsupported_media(django_request)):
            self._refuse(
                received,
                Verdict.NOT_CHECKED,
                Outcome.REJECTED,
                ProblemError("unsupported-media-type", unsupported),
            )
        try:
            try:
                webhook_request_verify(
                    integration=integration, headers=django_request.headers, body=body
                )
            except SignatureError as exc:
                if exc.verdict != Verdict.MISMATCH:
                    raise
                # The cached integration may predate a rotation done in another process.
                received.integration = integration = _integration(integration_name, fresh=True)
                webhook_request_verify(
                    integration=integration, headers=django_request.headers, body=body
                )
        except SignatureError as exc:
            self._refuse(
                received,
                exc.verdict,
                Outcome.UNAUTHORIZED,
                ProblemError("invalid-signature", exc.reason),
            )
        if wait := rate_limit_hit(scope=f"partner:{integration.pk}"):
            self._refuse(
                received,
                Verdict.VALID,
                Outcome.RATE_LIMITED,
                ProblemError(
                    "rate-limited",
                    f"Too many requests for this integration; retry in {wait} s.",
                    headers={"Retry-After": str(wait)},
                ),
            )
        return received

    def respond(self, request, integration_name: str, partner_order_id: str = ""):
        received = self.verified_request(request, integration_name, partner_order_id)
        event = inbound.inbound_request_process(request=received)
        status = event.response_status
        response = HttpResponse(
            json.dumps(event.response_body),
            status=status,
            content_type=PROBLEM_CONTENT_TYPE if status >= 400 else "application/json",
        )
        if event.kind == InboundEvent.Kind.DUPLICATE:
            response["Idempotent-Replayed"] = "true"
        return response


# --- OpenAPI description ------------------------------------------------------------------

SIGNATURE_PARAMETERS = [
    OpenApiParameter(
        "webhook-id",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description="Unique id of this request (1-255 printable ASCII). Resending the same id "
        "returns the first answer and applies nothing twice.",
    ),
    OpenApiParameter(
        "webhook-timestamp",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description="Send time, integer seconds since the Unix epoch; must be within 5 "
        "minutes of our clock.",
    ),
    OpenApiParameter(
        "webhook-signature",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description="Space-separated `v1,<base64 HMAC-SHA256>` of "
        "`<webhook-id>.<webhook-timestamp>.<body>` with your whsec_ secret (Standard "
        "Webhooks).",
    ),
]


RESPONSE_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[429],
        description="Seconds to wait before retrying.",
    ),
    OpenApiParameter(
        "Idempotent-Replayed",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[200, 201, 400, 404, 409, 422],
        description="`true` when this is the stored answer to an earlier request with the "
        "same webhook-id.",
    ),
]


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(ProblemSerializer, description=description)


COMMON_ERRORS = {
    401: _problem("Missing, malformed, expired or wrong signature; `detail` says which."),
    403: _problem("The integration is disabled."),
    404: _problem("Unknown integration, or no such order for this integration."),
    405: _problem("Method not allowed."),
    413: _problem("Body larger than the limit (default 256 KiB)."),
    429: _problem("Too many requests for this integration; see the Retry-After header."),
}
BODY_ERRORS = {
    400: _problem("The body is not a JSON object."),
    411: _problem("The body was streamed (chunked) without a Content-Length header."),
    415: _problem("Content-Type is not application/json, or the body is compressed."),
}
DOC_TAGS = ["Partner orders"]


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
            422: _problem("Invalid fields; `errors` per field."),
            **COMMON_ERRORS,
            **BODY_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Volvo dealer order",
                request_only=True,
                value={
                    "partner_order_id": "VLV-2025-789123",
                    "partner_customer_id": "CUST-456789",
                    "dealer_group_id": "VAN_MOSSEL_WEST",
                    "purchase_order_number": "PO-20250601-001",
                    "customer_name": "Sanne de Vries",
                    "customer_email": "sanne@example.nl",
                    "installation_street": "Stationsplein 1",
                    "installation_postal_code": "3511 ED",
                    "installation_city": "Utrecht",
                    "vehicle_model": "Volvo EX30",
                },
            )
        ],
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
            409: _problem("The status engine refuses this transition; see current_status."),
            422: _problem("Unknown partner status (allowed_statuses lists them) or bad fields."),
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

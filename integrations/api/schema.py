"""The partner API's OpenAPI description: the parts the endpoints share (signature headers,
response headers, error responses, an example), and the pre- and post-processing: one path
per endpoint, errors as problem+json, request bodies that say they refuse unknown fields."""

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from integrations.api.errors import PROBLEM_CONTENT_TYPE
from integrations.api.serializers import ProblemSerializer

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


def problem_schema(description: str) -> OpenApiResponse:
    """An error response: a problem document (problem+json, see ``problem_content_types``)."""
    return OpenApiResponse(ProblemSerializer, description=description)


COMMON_ERRORS = {
    401: problem_schema("Missing, malformed, expired or wrong signature; `detail` says which."),
    403: problem_schema("The integration is disabled."),
    404: problem_schema("Unknown integration, or no such order for this integration."),
    405: problem_schema("Method not allowed."),
    413: problem_schema("Body larger than the limit (default 256 KiB)."),
    429: problem_schema("Too many requests for this integration; see the Retry-After header."),
}
BODY_ERRORS = {
    400: problem_schema("The body is not a JSON object."),
    411: problem_schema("The body was streamed (chunked) without a Content-Length header."),
    415: problem_schema("Content-Type is not application/json, or the body is compressed."),
}
DOC_TAGS = ["Partner orders"]

# A Volvo dealer's order as a partner would send it (references as in the source document).
VOLVO_ORDER_EXAMPLE = OpenApiExample(
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


class StrictSerializerExtension(OpenApiSerializerExtension):
    """A StrictSerializer refuses fields it does not know: ``additionalProperties: false``,
    and a component named after the body (``OrderCreateRequest``, not ``...RequestRequest``)."""

    target_class = "integrations.api.serializers.StrictSerializer"
    match_subclasses = True

    def get_name(self, auto_schema, direction):
        return self.target.__class__.__name__.removesuffix("Serializer").removesuffix("Request")

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


def problem_content_types(result, generator, request, public):
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(code)[0] in "45" and "application/json" in content:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["name"] == "integration_name":
                    parameter["schema"]["pattern"] = "^[-a-zA-Z0-9_]+$"
    return result


def without_slashless_twins(endpoints, **kwargs):
    """Document each partner endpoint once, with its trailing slash."""
    return [endpoint for endpoint in endpoints if endpoint[0].endswith("/")]

"""The partner API's request and response shapes (validation and the OpenAPI schema)."""

import threading

from django.core.validators import RegexValidator
from rest_framework import serializers

from chargecars.wire import rfc3339
from integrations.api.partner_orders import PARTNER_ORDER_ID_PATTERN, REFERENCE_FIELDS
from integrations.api.problems import validation_problem
from orders.models import PARTNER_REFERENCE_KEYS

partner_order_id_validator = RegexValidator(
    PARTNER_ORDER_ID_PATTERN,
    "Use 1-100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit "
    "(it appears in URLs).",
    code="invalid_partner_order_id",
)


def _declaring(name: str, base: type, fields: dict[str, serializers.Field]) -> type:
    """A serializer class declaring ``fields`` (in their order) after ``base``'s.

    The partner references are listed once, in ``orders.models.PARTNER_REFERENCE_KEYS``,
    and a class body cannot declare fields from a list. The class has no docstring on
    purpose: drf-spectacular describes a serializer with the first docstring in its
    class hierarchy, and these would change the served schema.
    """
    return type(base)(name, (base,), {"__module__": __name__, **fields})


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is an error rather than silently lost."""

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        unknown_errors = {name: ["Unknown field."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                exc.detail.update(unknown_errors)
            raise
        if unknown_errors:
            raise serializers.ValidationError(unknown_errors, code="unknown_field")
        return value


def _reference(key: str) -> serializers.CharField:
    """A reference the partner may send when creating an order."""
    if key == "partner_system":
        return serializers.CharField(
            required=False,
            max_length=100,
            help_text="Your system's name; defaults to the integration name.",
        )
    return serializers.CharField(required=False, max_length=100)


# The partner order id, then the other references a create may carry.
_OrderCreateReferences = _declaring(
    "_OrderCreateReferences",
    StrictSerializer,
    {
        "partner_order_id": serializers.CharField(
            max_length=100,
            validators=[partner_order_id_validator],
            help_text="Your order id; one ChargeCars order per id. Used in the other URLs.",
        ),
        **{key: _reference(key) for key in REFERENCE_FIELDS},
    },
)


class OrderCreateRequestSerializer(_OrderCreateReferences):
    customer_name = serializers.CharField(max_length=200)
    customer_email = serializers.EmailField(required=False, max_length=254)
    customer_phone = serializers.CharField(required=False, max_length=50)
    installation_street = serializers.CharField(required=False, max_length=200)
    installation_postal_code = serializers.CharField(required=False, max_length=20)
    installation_city = serializers.CharField(required=False, max_length=100)
    installation_country = serializers.RegexField(
        r"^[A-Z]{2}$",
        required=False,
        help_text="ISO 3166-1 alpha-2 country code; default NL.",
        error_messages={"invalid": "Use a two-letter upper-case country code such as NL."},
    )
    vehicle_model = serializers.CharField(required=False, max_length=100)
    charger_model = serializers.CharField(required=False, max_length=100)
    requested_installation_date = serializers.DateField(required=False)
    notes = serializers.CharField(required=False, max_length=2000)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset (Z or +01:00)."""

    default_error_messages = {
        "naive": "Include the UTC offset, e.g. 2025-06-01T10:30:00Z.",
    }

    def enforce_timezone(self, value):
        if value.tzinfo is None:
            self.fail("naive")
        return super().enforce_timezone(value)


class StatusUpdateRequestSerializer(StrictSerializer):
    status = serializers.CharField(
        max_length=100, help_text="The order's new status in your own vocabulary."
    )
    occurred_at = AwareDateTimeField(
        help_text="When the status changed on your side; older updates than the last "
        "applied one are ignored."
    )
    note = serializers.CharField(required=False, max_length=2000, allow_blank=True)


def _stored_reference(key: str) -> serializers.Field:
    """A reference as an order carries it: the three we always set are always there."""
    if key == "sync_last_updated":
        return serializers.DateTimeField()
    return serializers.CharField(required=key in ("partner_order_id", "partner_system"))


PartnerReferencesSerializer = _declaring(
    "PartnerReferencesSerializer",
    serializers.Serializer,
    {key: _stored_reference(key) for key in PARTNER_REFERENCE_KEYS},
)


class PartnerOrderSerializer(serializers.Serializer):
    """Schema only: responses are built by ``order_representation`` (same shape, faster)."""

    id = serializers.UUIDField()
    order_number = serializers.CharField()
    status = serializers.CharField(help_text="In your vocabulary (status_mapping).")
    partner_order_id = serializers.CharField()
    partner_external_references = PartnerReferencesSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class StatusUpdateResponseSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=["applied", "unchanged", "stale"])
    detail = serializers.CharField()
    order = PartnerOrderSerializer()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Per-field messages, keyed by field name.",
    )
    current_status = serializers.CharField(required=False, help_text="409: the order's status.")
    allowed_statuses = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="409: statuses it may move to; 422 unknown status: statuses accepted.",
    )


def order_representation(order, integration) -> dict:
    """The order as the partner sees it: their status vocabulary and their references."""
    return {
        "id": str(order.id),
        "order_number": order.order_number,
        "status": integration.partner_status_for(order.status),
        "partner_order_id": order.partner_order_id,
        "partner_external_references": order.partner_external_references,
        "created_at": rfc3339(order.created_at),
        "updated_at": rfc3339(order.updated_at),
    }


# --- Speed-up: one serializer instance per class and thread ------------------------------------

_serializers = threading.local()


def validated(serializer_class: type[serializers.Serializer], data: dict) -> dict:
    """Validate with a serializer instance reused per thread; raises a validation problem.

    DRF deep-copies every declared field for each new serializer instance, which was the
    largest CPU cost of a request; validation itself keeps no state between calls.
    """
    serializer = _serializers.__dict__.get(serializer_class)
    if serializer is None:
        serializer = _serializers.__dict__[serializer_class] = serializer_class()
    for attribute in ("_validated_data", "_errors", "_data"):
        serializer.__dict__.pop(attribute, None)
    serializer.initial_data = data
    if not serializer.is_valid():
        raise validation_problem(serializer.errors)
    return serializer.validated_data

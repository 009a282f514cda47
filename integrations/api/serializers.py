"""The partner API's request and response shapes (validation and the OpenAPI schema)."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from orders.models import ORDER_DETAIL_FIELDS, PARTNER_REFERENCE_KEYS

PARTNER_ORDER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$"
partner_order_id_validator = RegexValidator(
    PARTNER_ORDER_ID_PATTERN,
    "Use 1-100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit "
    "(it appears in URLs).",
    code="invalid_partner_order_id",
)

# Partner references the source document lists, other than the two we set ourselves.
REFERENCE_FIELDS = tuple(
    key for key in PARTNER_REFERENCE_KEYS if key not in ("partner_order_id", "sync_last_updated")
)
ORDER_FIELDS = ORDER_DETAIL_FIELDS


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


def _reference(**kwargs):
    return serializers.CharField(required=False, max_length=100, **kwargs)


class OrderCreateRequestSerializer(StrictSerializer):
    partner_order_id = serializers.CharField(
        max_length=100,
        validators=[partner_order_id_validator],
        help_text="Your order id; one ChargeCars order per id. Used in the other URLs.",
    )
    partner_customer_id = _reference()
    dealer_group_id = _reference()
    partner_invoice_id = _reference()
    purchase_order_number = _reference()
    external_order_reference = _reference()
    partner_system = _reference(help_text="Your system's name; defaults to the integration name.")
    partner_lead_id = _reference()
    dealer_reference_number = _reference()

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


class PartnerReferencesSerializer(serializers.Serializer):
    partner_order_id = serializers.CharField()
    partner_customer_id = serializers.CharField(required=False)
    dealer_group_id = serializers.CharField(required=False)
    partner_invoice_id = serializers.CharField(required=False)
    purchase_order_number = serializers.CharField(required=False)
    external_order_reference = serializers.CharField(required=False)
    partner_system = serializers.CharField()
    sync_last_updated = serializers.DateTimeField()
    partner_lead_id = serializers.CharField(required=False)
    dealer_reference_number = serializers.CharField(required=False)


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
        "created_at": order.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": order.updated_at.isoformat().replace("+00:00", "Z"),
    }

"""The order change form of the admin: details, partner references and a status change."""

from django import forms
from django.core.exceptions import ValidationError

from chargecars.admin_fields import PrettyJSONField
from orders.models import ORDER_DETAIL_FIELDS, PARTNER_REFERENCE_KEYS, Order
from orders.selectors import orders_with_partner_order_id
from orders.services import InvalidTransition
from orders.status import OrderStatus, allowed_next_statuses


class OrderAdminForm(forms.ModelForm):
    partner_external_references = PrettyJSONField(
        required=False,
        help_text=(
            "A JSON object of the partner's identifiers for this order, e.g. "
            + ", ".join(PARTNER_REFERENCE_KEYS[:4])
            + ". Searchable from the order list."
        ),
    )
    change_status_to = forms.ChoiceField(
        required=False,
        choices=[("", "— keep the current status —"), *OrderStatus.choices],
        help_text="Only the statuses this order may move to next are offered.",
    )
    status_note = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"size": 80}),
        help_text="Why the status changes; stored in the status history.",
    )

    class Meta:
        model = Order
        fields = ["source_integration", "partner_external_references", *ORDER_DETAIL_FIELDS]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "change_status_to" in self.fields:
            allowed = set(allowed_next_statuses(self.instance.status))
            # The field accepts every status so that a stale choice gets the engine's own
            # explanation (clean_change_status_to) instead of "not one of the choices".
            self.fields["change_status_to"].widget.choices = [
                ("", "— keep the current status —"),
                *[(value, label) for value, label in OrderStatus.choices if value in allowed],
            ]

    def clean_partner_external_references(self):
        value = self.cleaned_data.get("partner_external_references")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError(
                'Partner references must be a JSON object, e.g. {"partner_order_id": "VLV-1"}.',
                code="invalid",
            )
        return value

    def clean(self):
        cleaned = super().clean()
        references = cleaned.get("partner_external_references") or {}
        integration = cleaned.get("source_integration", self.instance.source_integration)
        partner_order_id = references.get("partner_order_id")
        if integration and partner_order_id not in (None, ""):
            # The database refuses this too; say which order already has it instead.
            taken = (
                orders_with_partner_order_id(
                    integration_id=integration.pk, partner_order_id=partner_order_id
                )
                .exclude(pk=self.instance.pk)
                .values_list("order_number", flat=True)
                .first()
            )
            if taken:
                self.add_error(
                    "partner_external_references",
                    f"Order {taken} already has partner_order_id {partner_order_id!r} from "
                    f"{integration.integration_name}: one partner order cannot become two orders.",
                )
        if cleaned.get("status_note") and not cleaned.get("change_status_to"):
            self.add_error(
                "status_note", "The note is stored with a status change: choose a status too."
            )
        return cleaned

    def clean_change_status_to(self):
        to_status = self.cleaned_data.get("change_status_to")
        if to_status and to_status not in allowed_next_statuses(self.instance.status):
            raise InvalidTransition(order=self.instance, to_status=to_status)
        return to_status

"""Admin for the partner API: the inbound event log and re-processing."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from chargecars.admin_fields import ReadOnlyAdminMixin, change_link
from integrations.api.inbound import inbound_event_reprocess
from integrations.models import InboundEvent


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "received_at",
        "integration",
        "action",
        "kind",
        "partner_order_id",
        "signature_verdict",
        "outcome",
        "response_status",
        "order_link",
    )
    list_filter = (
        ("received_at", admin.DateFieldListFilter),
        "outcome",
        "action",
        "kind",
        "signature_verdict",
        ("integration", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("=partner_order_id", "=webhook_id")
    list_select_related = ("integration", "order")
    ordering = ("-received_at",)
    actions = ["reprocess"]
    fieldsets = (
        (
            "Request",
            {
                "fields": (
                    "id",
                    "integration",
                    "action",
                    "kind",
                    "original",
                    "webhook_id",
                    "received_at",
                    "remote_addr",
                    "method",
                    "path",
                    "headers",
                    "body",
                    "body_truncated",
                )
            },
        ),
        (
            "Outcome",
            {
                "fields": (
                    "signature_verdict",
                    "outcome",
                    "response_status",
                    "response_body",
                    "error",
                    "partner_order_id",
                    "order",
                )
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    @admin.display(description="Order", ordering="order__order_number")
    def order_link(self, event):
        return change_link(event.order)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Re-processing applies a partner request again: for those who may operate integrations.
        if not request.user.has_perm("integrations.change_partnerintegration"):
            actions.pop("reprocess", None)
        return actions

    @admin.action(description="Re-process selected events")
    def reprocess(self, request, queryset):
        # Each message starts with a word: the admin capitalizes a message's first letter,
        # which would misquote a webhook-id (searched case-sensitively) put first.
        for event in queryset.select_related("integration", "original"):
            try:
                result = inbound_event_reprocess(event=event)
            except ValidationError as exc:
                self.message_user(
                    request, f"Not re-processed {event}: {exc.messages[0]}", messages.ERROR
                )
                continue
            self.message_user(
                request,
                f"Re-processed {event.webhook_id or event.pk}: {result.response_status} "
                f"{result.get_outcome_display()}" + (f" ({result.error})" if result.error else ""),
                messages.SUCCESS if result.response_status < 400 else messages.WARNING,
            )

"""Admin for outbound webhooks: the delivery log with its attempts, replays and holds."""

from datetime import UTC, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from chargecars.admin_fields import ReadOnlyAdminMixin, ServiceWrittenAdminMixin, change_link
from integrations.models import (
    DeliveryAttempt,
    DeliveryHold,
    DeliveryHoldState,
    DeliveryState,
    PartnerIntegration,
    WebhookDelivery,
)
from integrations.outbound.actions import deliveries_replay_failed, delivery_cancel, delivery_replay
from integrations.outbound.holds import deliveries_resume


class DeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = (
        "attempted_at",
        "status_code",
        "succeeded",
        "duration_ms",
        "error_class",
        "error_message",
        "response_excerpt",
    )
    readonly_fields = fields
    ordering = ("attempted_at", "id")


class DeliveryStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [*DeliveryState.choices, ("retrying", "Retrying (pending after a failure)")]

    def queryset(self, request, queryset):
        if self.value() == "retrying":
            return queryset.filter(state=DeliveryState.PENDING, attempts__gt=0)
        if self.value():
            return queryset.filter(state=self.value())
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ServiceWrittenAdminMixin, admin.ModelAdmin):
    list_display = (
        "short_id",
        "integration",
        "event",
        "order_link",
        "sequence",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = (
        DeliveryStateFilter,
        "event",
        ("integration", admin.RelatedOnlyFieldListFilter),
        "created_at",
    )
    list_select_related = ("integration", "order")
    search_fields = ("=id", "order__order_number")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = (DeliveryAttemptInline,)
    actions = ("replay_deliveries", "cancel_deliveries")
    show_full_result_count = False
    change_list_template = "admin/integrations/webhookdelivery/change_list.html"
    fields = (
        "id",
        "integration",
        "order",
        "event",
        "sequence",
        "state",
        "attempts",
        "schedule_position",
        "created_at",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "completed_at",
        "claimed_until",
        "payload",
    )
    readonly_fields = fields

    @admin.display(description="webhook-id", ordering="id")
    def short_id(self, obj: WebhookDelivery) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="order", ordering="order__order_number")
    def order_link(self, obj: WebhookDelivery):
        return change_link(obj.order)

    @admin.action(description="Replay selected deliveries", permissions=["change"])
    def replay_deliveries(self, request, queryset):
        count = 0
        for item in queryset.order_by("created_at", "sequence"):
            delivery_replay(delivery=item)
            count += 1
        self.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)

    @admin.action(description="Cancel selected deliveries", permissions=["change"])
    def cancel_deliveries(self, request, queryset):
        cancelled = sum(delivery_cancel(delivery=item) for item in queryset)
        skipped = queryset.count() - cancelled
        text = f"{cancelled} deliveries cancelled."
        if skipped:
            text += f" {skipped} were already finished and left as they are."
        self.message_user(request, text, messages.SUCCESS)

    def get_urls(self):
        return [
            path(
                "replay-failed/",
                self.admin_site.admin_view(self.replay_failed_view),
                name="integrations_webhookdelivery_replay_failed",
            ),
            *super().get_urls(),
        ]

    def replay_failed_view(self, request: HttpRequest):
        if not self.has_change_permission(request):
            raise PermissionDenied
        now = timezone.now()
        form = ReplayFailedForm(
            request.POST or None,
            initial={"created_from": now - timedelta(days=1), "created_to": now},
        )
        if request.method == "POST" and form.is_valid():
            count = deliveries_replay_failed(
                integration=form.cleaned_data["integration"],
                created_from=form.cleaned_data["created_from"],
                created_to=form.cleaned_data["created_to"],
            )
            self.message_user(
                request,
                f"{count} failed deliveries of {form.cleaned_data['integration']} queued again.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:integrations_webhookdelivery_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Replay failed deliveries",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/integrations/webhookdelivery/replay_failed.html", context
        )


class ReplayFailedForm(forms.Form):
    integration = forms.ModelChoiceField(queryset=PartnerIntegration.objects.all())
    created_from = forms.DateTimeField(help_text="Deliveries created at or after this time.")
    created_to = forms.DateTimeField(help_text="... and at or before this time.")

    @staticmethod
    def _in_range(value):
        try:
            value.astimezone(UTC)  # as the database compares it
        except OverflowError:
            raise forms.ValidationError("This date is out of range.") from None
        return value

    def clean_created_from(self):
        return self._in_range(self.cleaned_data["created_from"])

    def clean_created_to(self):
        return self._in_range(self.cleaned_data["created_to"])

    def clean(self):
        data = super().clean()
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            raise forms.ValidationError("The start of the range is after its end.")
        return data


class NeedsAttentionFilter(admin.SimpleListFilter):
    """By default only integrations whose deliveries are failing, held or draining: every
    integration that ever sent a webhook has a row here, most of them healthy."""

    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return (("all", "All integrations"),)

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Needs attention",
        }
        yield {
            "selected": self.value() == "all",
            "query_string": changelist.get_query_string({self.parameter_name: "all"}),
            "display": "All integrations",
        }

    def queryset(self, request, queryset):
        if self.value() == "all":
            return queryset
        return queryset.exclude(state=DeliveryHoldState.OPEN, consecutive_failures=0)


@admin.register(DeliveryHold)
class DeliveryHoldAdmin(ServiceWrittenAdminMixin, admin.ModelAdmin):
    list_display = (
        "integration",
        "state",
        "consecutive_failures",
        "manual_resume_required",
        "held_at",
        "next_probe_at",
        "reason",
    )
    list_filter = (NeedsAttentionFilter, "state", "manual_resume_required")
    list_select_related = ("integration",)
    readonly_fields = (
        "integration",
        "state",
        "consecutive_failures",
        "reason",
        "held_at",
        "manual_resume_required",
        "probes",
        "next_probe_at",
        "claimed_until",
    )
    actions = ("resume",)

    @admin.action(description="Resume held deliveries (drain in order)", permissions=["change"])
    def resume(self, request, queryset):
        count = sum(
            deliveries_resume(integration=hold.integration)
            for hold in queryset.filter(state=DeliveryHoldState.HELD).select_related("integration")
        )
        self.message_user(request, f"{count} integration(s) resumed.", messages.SUCCESS)

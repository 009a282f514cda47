"""Admin for partner integrations: the configuration form, health, and actions on them."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from chargecars.admin_fields import ReadOnlyAdminMixin, secret_field_names
from integrations.admin.forms import PartnerIntegrationAdminForm, masked_credentials
from integrations.admin.sync import sync_overview
from integrations.client import client_test_connection
from integrations.models import PartnerIntegration
from integrations.monitoring.health import (
    FAILING_SUCCESS_RATE,
    failing_integrations_q,
    stale_integrations_q,
)
from integrations.outbound.actions import delivery_send_test
from integrations.outbound.holds import deliveries_resume
from integrations.secrets import mask_secret
from integrations.signing import webhook_secret_rotate
from integrations.sync.manual import sync_now
from organizations.models import Organization

SECRET_FIELDS = secret_field_names(PartnerIntegration)


# --- Actions on integrations -------------------------------------------------------------


@admin.action(description="Rotate webhook secret", permissions=["change"])
def rotate_webhook_secret(modeladmin, request, queryset):
    """New secret for each selected integration, shown once; old one valid for the grace period."""
    for integration in queryset:
        secret = webhook_secret_rotate(integration=integration, user=request.user)
        modeladmin.message_user(
            request,
            format_html(
                "New webhook secret for <b>{}</b> (shown once, give it to the partner now): "
                "<code>{}</code>. The previous secret stays valid for the grace period.",
                integration.integration_name,
                secret,
            ),
            messages.WARNING,
        )


@admin.action(description="Send test webhook (signed ping)", permissions=["change"])
def send_test_webhook(modeladmin, request, queryset):
    for integration in queryset:
        result = delivery_send_test(integration=integration)
        level = messages.SUCCESS if result.ok else messages.ERROR
        # The admin capitalises a message's first letter: never start with the name.
        modeladmin.message_user(request, f"Test webhook, {integration}: {result.message}", level)


@admin.action(description="Test connection to the partner API", permissions=["change"])
def test_connection(modeladmin, request, queryset):
    for integration in queryset:
        result = client_test_connection(integration=integration)
        level = messages.SUCCESS if result.ok else messages.ERROR
        modeladmin.message_user(request, f"Connection test, {integration}: {result.message}", level)


@admin.action(description="Resume held webhook deliveries", permissions=["change"])
def resume_webhook_deliveries(modeladmin, request, queryset):
    for integration in queryset:
        resumed = deliveries_resume(integration=integration)
        text = "held deliveries will drain in order" if resumed else "nothing was held"
        modeladmin.message_user(request, f"Held deliveries, {integration}: {text}.", messages.INFO)


@admin.action(description="Sync now", permissions=["change"])
def sync_integrations_now(modeladmin, request, queryset):
    for integration in queryset:
        result = sync_now(integration=integration, user=request.user)
        level = messages.SUCCESS if result.queued else messages.WARNING
        modeladmin.message_user(request, result.message, level)


INTEGRATION_ACTIONS = (
    rotate_webhook_secret,
    send_test_webhook,
    test_connection,
    resume_webhook_deliveries,
    sync_integrations_now,
)


# --- The integration admin ------------------------------------------------------------------


class HealthListFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [
            ("failing", f"Failing (error in the last 24 h or success < {FAILING_SUCCESS_RATE}%)"),
            ("stale", "Stale (sync enabled, no successful sync for two periods)"),
            ("healthy", "Healthy"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "failing":
            return queryset.filter(failing_integrations_q(now))
        if self.value() == "stale":
            return queryset.filter(stale_integrations_q(now))
        if self.value() == "healthy":
            return queryset.exclude(failing_integrations_q(now)).exclude(stale_integrations_q(now))
        return queryset


@admin.register(PartnerIntegration)
class PartnerIntegrationAdmin(admin.ModelAdmin):
    form = PartnerIntegrationAdminForm
    actions = INTEGRATION_ACTIONS
    change_form_template = "admin/integrations/partnerintegration/change_form.html"
    list_display = (
        "integration_name",
        "partner_organization",
        "is_active",
        "authentication_type",
        "sync_frequency",
        "success_rate_display",
        "last_sync_at",
        "last_error_at",
    )
    list_filter = (
        HealthListFilter,
        "is_active",
        "authentication_type",
        "sync_frequency",
        ("partner_organization", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("partner_organization",)
    search_fields = ("integration_name", "partner_organization__name")
    ordering = ("integration_name",)
    readonly_fields = (
        "id",
        "created_at",
        "stored_credentials",
        "stored_webhook_secret",
        "last_sync_at",
        "success_rate",
        "last_error_at",
        "last_error_message",
        "sync_overview",
    )
    fieldsets = (
        (
            "Basic Configuration",
            {
                "fields": (
                    "id",
                    "created_at",
                    "partner_organization",
                    "integration_name",
                    "api_base_url",
                    "api_version",
                )
            },
        ),
        (
            "Authentication",
            {"fields": ("authentication_type", "stored_credentials", "api_credentials")},
        ),
        (
            "Webhooks",
            {
                "fields": (
                    "webhook_url",
                    "stored_webhook_secret",
                    "webhook_secret",
                    "webhook_events",
                )
            },
        ),
        ("Status Mapping", {"fields": ("status_mapping",)}),
        ("Configuration", {"fields": ("is_active", "sync_enabled", "sync_frequency")}),
        (
            "Monitoring",
            {"fields": ("last_sync_at", "success_rate", "last_error_at", "last_error_message")},
        ),
        ("Sync", {"fields": ("sync_overview",)}),
    )

    def get_readonly_fields(self, request, obj=None):
        # The name is the partner's path in our API; renaming would break their calls.
        if obj is not None:
            return (*self.readonly_fields, "integration_name")
        return self.readonly_fields

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # A view-only user gets every field read-only, which would display the stored
        # values: leave the write-only fields out, the masked ones stay.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in SECRET_FIELDS]})
            for name, options in fieldsets
        ]

    def get_search_results(self, request, queryset, search_term):
        # Used by the changelist and the autocomplete of other admins; see SECRET_FIELDS.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.defer(*SECRET_FIELDS), may_have_duplicates

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "partner_organization":
            kwargs["queryset"] = Organization.objects.partners()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/sync-now/",
                self.admin_site.admin_view(self.sync_now_view),
                name="integrations_partnerintegration_sync_now",
            ),
            *super().get_urls(),
        ]

    def sync_now_view(self, request, object_id):
        """POST: queue a manual sync of the integration, then back to its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        integration = get_object_or_404(PartnerIntegration, pk=object_id)
        if not self.has_change_permission(request, integration):
            raise PermissionDenied
        result = sync_now(integration=integration, user=request.user)
        self.message_user(
            request, result.message, messages.SUCCESS if result.queued else messages.WARNING
        )
        return HttpResponseRedirect(
            reverse("admin:integrations_partnerintegration_change", args=[integration.pk])
        )

    @admin.display(description="Sync runs, drift and feed")
    def sync_overview(self, obj):
        return sync_overview(obj)

    @admin.display(description="Success rate", ordering="success_rate")
    def success_rate_display(self, obj):
        return "—" if obj.success_rate is None else f"{obj.success_rate}%"

    @admin.display(description="Stored API credentials")
    def stored_credentials(self, obj):
        return masked_credentials(obj.api_credentials if obj and obj.pk else None)

    @admin.display(description="Stored webhook secret")
    def stored_webhook_secret(self, obj):
        return mask_secret(obj.webhook_secret if obj and obj.pk else None)

    def save_model(self, request, obj, form, change):
        if change:
            # Write only what the operator changed: obj was loaded at the start of the
            # request, and writing every column would undo what happened meanwhile (a
            # "Rotate webhook secret", the workers' health fields). A secret left blank is
            # not in changed_data, and the health fields are not in the form.
            model_fields = {field.name for field in obj._meta.concrete_fields}
            obj.save(update_fields=[name for name in form.changed_data if name in model_fields])
        else:
            super().save_model(request, obj, form, change)
        if form.generated_webhook_secret:
            self.message_user(
                request,
                format_html(
                    "Webhook secret for {}: <code>{}</code> — copy it now and give it to the "
                    "partner; it is stored encrypted and will not be shown again.",
                    obj.integration_name,
                    form.generated_webhook_secret,
                ),
                messages.WARNING,
            )
        if not obj.api_credentials:
            self.message_user(
                request,
                f"{obj.integration_name} has no API credentials: calls to the partner's API "
                "are refused until they are entered.",
                messages.WARNING,
            )


class PartnerIntegrationInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A read-only summary of an organization's integrations, linking to their change pages."""

    model = PartnerIntegration
    fk_name = "partner_organization"
    extra = 0
    fields = (
        "integration_link",
        "is_active",
        "authentication_type",
        "sync_frequency",
        "success_rate",
        "last_sync_at",
        "last_error_at",
    )
    readonly_fields = fields
    ordering = ("integration_name",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*SECRET_FIELDS)

    @admin.display(description="Integration")
    def integration_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:integrations_partnerintegration_change", args=[obj.pk]),
            obj.integration_name,
        )

"""Admin for the scheduled sync: sync runs, the drift report, feed mappings with Preview
mapping, and the sync panel of an integration's page."""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from chargecars.admin_fields import (
    ReadOnlyAdminMixin,
    change_link,
    related_secret_field_names,
)
from integrations.models import (
    DeliveryState,
    FeedMapping,
    OrderDrift,
    PartnerIntegration,
    SyncRequest,
    SyncRun,
    SyncRunStatus,
    WebhookDelivery,
    current_drift_q,
)
from integrations.sync.drift import drift_counts

STATUS_COLOURS = {
    SyncRunStatus.SUCCEEDED: "#2e7d32",
    SyncRunStatus.PARTIAL: "#b26a00",
    SyncRunStatus.FAILED: "#c62828",
    SyncRunStatus.RUNNING: "#1565c0",
}


def run_status(run: SyncRun):
    return format_html(
        '<b style="color:{}">{}</b>', STATUS_COLOURS.get(run.status, "inherit"), run.status
    )


# --- Sync runs ----------------------------------------------------------------------------


class SyncRequestInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SyncRequest
    extra = 0
    can_delete = False
    fields = ("requested_at", "method", "url", "status_code", "succeeded", "duration_ms", "error")
    readonly_fields = fields
    ordering = ("requested_at", "id")
    verbose_name_plural = "HTTP requests to the partner"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "started_at",
        "integration",
        "trigger",
        "status_display",
        "pages",
        "records_pulled",
        "records_created",
        "records_updated",
        "records_unchanged",
        "records_stale",
        "records_skipped",
        "records_drift",
        "deliveries_pushed",
        "duration",
        "error_excerpt",
    )
    list_filter = (
        "status",
        "trigger",
        ("integration", admin.RelatedOnlyFieldListFilter),
        ("started_at", admin.DateFieldListFilter),
    )
    list_select_related = ("integration",)
    ordering = ("-started_at", "-id")
    show_full_result_count = False
    inlines = (SyncRequestInline,)
    fieldsets = (
        (None, {"fields": ("integration", "trigger", "started_by", "status_display", "error")}),
        ("When", {"fields": ("started_at", "finished_at", "duration", "updated_since", "resumed")}),
        (
            "Records",
            {
                "fields": (
                    "pages",
                    "records_pulled",
                    "records_created",
                    "records_updated",
                    "records_unchanged",
                    "records_stale",
                    "records_skipped",
                    "records_drift",
                    "deliveries_pushed",
                    "http_requests",
                    "http_failures",
                )
            },
        ),
        ("Skipped records", {"fields": ("skipped_table",)}),
    )
    readonly_fields = (*(name for _, options in fieldsets for name in options["fields"]),)

    def get_queryset(self, request):
        return (
            super().get_queryset(request).defer(*related_secret_field_names(SyncRun, "integration"))
        )

    @admin.display(description="status", ordering="status")
    def status_display(self, obj: SyncRun):
        return run_status(obj)

    @admin.display(description="duration")
    def duration(self, obj: SyncRun) -> str:
        seconds = obj.duration_seconds
        return "running" if seconds is None else f"{seconds:.1f} s"

    @admin.display(description="error")
    def error_excerpt(self, obj: SyncRun) -> str:
        return obj.error[:120] + ("…" if len(obj.error) > 120 else "")

    @admin.display(description="skipped records (partner order id, page, reason)")
    def skipped_table(self, obj: SyncRun):
        if not obj.skipped_records:
            return "none"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (item.get("partner_order_id") or "(no id)", item.get("page", ""), item["reason"])
                for item in obj.skipped_records
            ),
        )
        more = obj.records_skipped - len(obj.skipped_records)
        tail = format_html("<p>… and {} more, not kept.</p>", more) if more > 0 else ""
        return format_html("<table>{}</table>{}", rows, tail)


# --- Drift report ---------------------------------------------------------------------------


@admin.register(OrderDrift)
class OrderDriftAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Orders whose partner status disagrees with ours now (see ``current_drift_q``)."""

    list_display = (
        "order_link",
        "integration",
        "partner_status",
        "partner_chargecars_status",
        "our_status",
        "since",
        "source",
        "reported_at",
        "last_seen_at",
    )
    list_filter = (("integration", admin.RelatedOnlyFieldListFilter), "source")
    show_facets = admin.ShowFacets.ALWAYS
    change_list_template = "admin/integrations/orderdrift/change_list.html"
    list_select_related = ("order", "integration")
    search_fields = (
        "=order__order_number",
        "=order__partner_external_references__partner_order_id",
    )
    ordering = ("since",)
    fields = (
        "order_link",
        "integration",
        "partner_status",
        "partner_chargecars_status",
        "our_status",
        "our_status_when_reported",
        "since",
        "reported_at",
        "source",
        "last_seen_at",
        "sync_run_link",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(current_drift_q())
            .defer(*related_secret_field_names(OrderDrift, "integration"))
        )

    def changelist_view(self, request, extra_context=None):
        counts = drift_counts()
        names = dict(
            PartnerIntegration.objects.filter(pk__in=counts).values_list("pk", "integration_name")
        )
        per_integration = sorted((names[pk], pk, count) for pk, count in counts.items())
        return super().changelist_view(
            request, {**(extra_context or {}), "drift_per_integration": per_integration}
        )

    @admin.display(description="order", ordering="order__order_number")
    def order_link(self, obj: OrderDrift):
        return change_link(obj.order, f"{obj.order} ({obj.order.partner_order_id})")

    @admin.display(description="our status", ordering="order__status")
    def our_status(self, obj: OrderDrift) -> str:
        return obj.order.status

    @admin.display(description="seen in sync run")
    def sync_run_link(self, obj: OrderDrift):
        return change_link(obj.sync_run) if obj.sync_run_id else "-"


# --- The sync panel on an integration's page ---------------------------------------------------

RECENT_RUNS = 8


def _sync_state_lines(integration: PartnerIntegration) -> list:
    """Paused or not (and the webhooks waiting), orders in drift, which feed is read."""
    lines = []
    if not integration.sync_enabled:
        queued = WebhookDelivery.objects.filter(
            integration=integration, state__in=(DeliveryState.PENDING, DeliveryState.HELD)
        ).count()
        lines.append(
            format_html(
                "<b>Paused</b> (sync_enabled is off): no syncs; {} webhook deliveries queued, "
                "sent in order once it is switched on.",
                queued,
            )
        )
    drift = OrderDrift.objects.filter(current_drift_q(), integration=integration).count()
    lines.append(
        format_html(
            '<a href="{}?integration__id__exact={}">{} orders in drift</a>',
            reverse("admin:integrations_orderdrift_changelist"),
            integration.pk,
            drift,
        )
    )
    mapping = FeedMapping.objects.filter(integration=integration).first()
    lines.append(
        format_html("Feed: {}", change_link(mapping, "custom feed mapping"))
        if mapping
        else format_html(
            'Feed: the default contract (<a href="{}?integration={}">add a feed mapping</a>)',
            reverse("admin:integrations_feedmapping_add"),
            integration.pk,
        )
    )
    return lines


def _recent_runs_rows(integration: PartnerIntegration):
    runs = SyncRun.objects.filter(integration=integration).order_by("-started_at", "-id")
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                change_link(run, timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M:%S")),
                run.get_trigger_display(),
                run_status(run),
                f"{run.records_pulled} pulled, {run.records_created} created, "
                f"{run.records_updated} updated, {run.records_skipped} skipped, "
                f"{run.records_drift} drift",
                run.error[:100],
            )
            for run in runs[:RECENT_RUNS]
        ),
    )
    return rows or mark_safe("<tr><td colspan=5>No sync yet.</td></tr>")


def sync_overview(integration: PartnerIntegration):
    """Pause state, drift and feed links, and the latest runs, for the change page."""
    if integration is None or not integration.pk:
        return "-"
    return format_html(
        "{}<table><tr><th>started</th><th>trigger</th><th>status</th><th>records</th>"
        "<th>error</th></tr>{}</table>"
        '<p><a href="{}?integration__id__exact={}">All sync runs of {}</a></p>',
        format_html_join("", "<p>{}</p>", ((line,) for line in _sync_state_lines(integration))),
        _recent_runs_rows(integration),
        reverse("admin:integrations_syncrun_changelist"),
        integration.pk,
        integration,
    )

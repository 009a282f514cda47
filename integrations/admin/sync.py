"""Admin for the scheduled sync: sync runs, the drift report, feed mappings with Preview
mapping, and the sync panel of an integration's page."""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from chargecars.admin_fields import (
    PrettyJSONField,
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
from integrations.sync.mapping import RECORD_FIELDS, feed_mapping_errors
from integrations.sync.preview import mapping_preview

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


# --- Feed mappings ---------------------------------------------------------------------------


class FeedMappingForm(forms.ModelForm):
    extra_query = PrettyJSONField(required=False)
    field_mapping = PrettyJSONField(
        required=False,
        help_text=format_html(
            "Our field → dotted path in the partner's record, e.g. "
            '<code>{{"partner_order_id": "id", "status": "state.code", "updated_at": '
            '"modified", "customer_name": "customer.name"}}</code>. Needs partner_order_id, '
            "status and updated_at. Empty: the default contract's names. Our fields: {}.",
            ", ".join(RECORD_FIELDS),
        ),
    )
    sample_record = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 80, "style": "font-family: monospace"}),
        help_text="Paste one record of the partner's feed (or a whole page) and press "
        "<b>Preview mapping</b>: nothing is saved or synced.",
    )

    class Meta:
        model = FeedMapping
        fields = (
            "integration",
            "path",
            "paging",
            "page_size",
            "updated_since_param",
            "limit_param",
            "cursor_param",
            "page_param",
            "time_format",
            "extra_query",
            "items_key",
            "next_cursor_key",
            "field_mapping",
        )

    def clean_extra_query(self):
        return self.cleaned_data["extra_query"] or {}  # empty: no fixed parameters

    def clean_field_mapping(self):
        return self.cleaned_data["field_mapping"] or {}  # empty: the default contract

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        candidate = FeedMapping(**{k: v for k, v in data.items() if k != "sample_record"})
        for name, messages in feed_mapping_errors(candidate).items():
            self.add_error(None if name == "__all__" else name, messages)
        return data


@admin.register(FeedMapping)
class FeedMappingAdmin(admin.ModelAdmin):
    form = FeedMappingForm
    change_form_template = "admin/integrations/feedmapping/change_form.html"
    list_display = ("integration", "path", "paging", "page_size", "items_key", "updated_at")
    list_select_related = ("integration",)
    autocomplete_fields = ("integration",)
    fieldsets = (
        (None, {"fields": ("integration",)}),
        (
            "Request",
            {
                "fields": (
                    "path",
                    "paging",
                    "page_size",
                    "updated_since_param",
                    "limit_param",
                    "cursor_param",
                    "page_param",
                    "time_format",
                    "extra_query",
                )
            },
        ),
        ("Page", {"fields": ("items_key", "next_cursor_key")}),
        ("Record", {"fields": ("field_mapping",)}),
        ("Preview mapping", {"fields": ("sample_record",)}),
    )

    def get_queryset(self, request):
        secrets = related_secret_field_names(FeedMapping, "integration")
        return super().get_queryset(request).defer(*secrets)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and "_preview" in request.POST:
            return self._preview(request, object_id, form_url)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _preview(self, request, object_id, form_url):
        """The change form again, with the posted (unsaved) mapping applied to the sample."""
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        allowed = (
            self.has_change_permission(request, obj) if obj else self.has_add_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        form = self.get_form(request, obj, change=obj is not None)(request.POST, instance=obj)
        form.is_valid()  # the errors show; the instance carries the posted values
        mapping = form.instance
        integration = PartnerIntegration.objects.filter(pk=mapping.integration_id).first()
        preview = mapping_preview(
            mapping=mapping,
            integration=integration,
            sample_text=request.POST.get("sample_record", "") or "{}",
        )
        fieldsets = self.get_fieldsets(request, obj)
        admin_form = helpers.AdminForm(
            form, list(fieldsets), {}, self.get_readonly_fields(request, obj), model_admin=self
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Change' if obj else 'Add'} feed mapping",
            "subtitle": str(obj) if obj else None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "preview": preview,
        }
        return self.render_change_form(
            request, context, add=obj is None, change=obj is not None, obj=obj, form_url=form_url
        )


# --- The sync panel on an integration's page ---------------------------------------------------

RECENT_RUNS = 8


def sync_overview(integration: PartnerIntegration):
    """Pause state, drift and feed mapping links, and the latest runs, for the change page."""
    if integration is None or not integration.pk:
        return "-"
    runs = list(
        SyncRun.objects.filter(integration=integration).order_by("-started_at", "-id")[:RECENT_RUNS]
    )
    drift = OrderDrift.objects.filter(current_drift_q(), integration=integration).count()
    mapping = FeedMapping.objects.filter(integration=integration).first()
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
    drift_url = reverse("admin:integrations_orderdrift_changelist")
    lines.append(
        format_html(
            '<a href="{}?integration__id__exact={}">{} orders in drift</a>',
            drift_url,
            integration.pk,
            drift,
        )
    )
    lines.append(
        format_html("Feed: {}", change_link(mapping, "custom feed mapping"))
        if mapping
        else format_html(
            'Feed: the default contract (<a href="{}?integration={}">add a feed mapping</a>)',
            reverse("admin:integrations_feedmapping_add"),
            integration.pk,
        )
    )
    runs_url = reverse("admin:integrations_syncrun_changelist")
    table = format_html_join(
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
            for run in runs
        ),
    )
    return format_html(
        "{}<table><tr><th>started</th><th>trigger</th><th>status</th><th>records</th>"
        "<th>error</th></tr>{}</table>"
        '<p><a href="{}?integration__id__exact={}">All sync runs of {}</a></p>',
        format_html_join("", "<p>{}</p>", ((line,) for line in lines)),
        table or mark_safe("<tr><td colspan=5>No sync yet.</td></tr>"),
        runs_url,
        integration.pk,
        integration,
    )

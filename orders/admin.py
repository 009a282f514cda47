import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q, TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.http import HttpResponseRedirect
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from chargecars.admin_fields import (
    ReadOnlyAdminMixin,
    change_link,
    related_secret_field_names,
)
from orders.forms import OrderAdminForm
from orders.models import (
    ORDER_DETAIL_FIELDS,
    Order,
    OrderStatusChange,
    StatusChangeSource,
)
from orders.services import order_change_status, order_create, order_update
from orders.status import OrderStatus, allowed_next_statuses

# Orders and history rows reach their integration through these relations; its secrets are
# never shown here, so they are never loaded.
_ORDER_INTEGRATION_SECRETS = related_secret_field_names(Order, "source_integration")
_CHANGE_INTEGRATION_SECRETS = related_secret_field_names(OrderStatusChange, "integration")


def _integrations():
    """The partner integrations orders come from (the orders app does not import them)."""
    return Order._meta.get_field("source_integration").related_model.objects.all()


class PartnerIntegrationListFilter(admin.SimpleListFilter):
    """Filter by source integration, listing names only (no integration secrets decrypted)."""

    title = "partner integration"
    parameter_name = "integration"

    def lookups(self, request, model_admin):
        return [("none", "No integration (created by staff)")] + [
            (str(pk), name)
            for pk, name in _integrations()
            .order_by("integration_name")
            .values_list("pk", "integration_name")
        ]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(source_integration__isnull=True)
        if self.value():
            try:
                return queryset.filter(source_integration_id=self.value())
            except ValidationError:
                return queryset.none()
        return queryset


class OrderStatusChangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderStatusChange
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "from_status",
        "to_status",
        "source",
        "integration_name",
        "user",
        "note",
    )
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("integration", "user")
            .defer(*_CHANGE_INTEGRATION_SECRETS)
        )

    @admin.display(description="Integration")
    def integration_name(self, obj):
        return obj.integration.integration_name if obj.integration_id else "—"


def _change_status_action(to_status: str, description: str, done: str):
    def action(modeladmin, request, queryset):
        changed, failures = 0, []
        for order in queryset.order_by("created_at"):
            try:
                order_change_status(
                    order=order,
                    to_status=to_status,
                    source=StatusChangeSource.STAFF,
                    user=request.user,
                )
            except ValidationError as exc:
                failures.append(" ".join(exc.messages))  # names the order and why
            else:
                changed += 1
        if changed:
            modeladmin.message_user(
                request, f"{done} {changed} order{'s' if changed != 1 else ''}.", messages.SUCCESS
            )
        if failures:
            shown = failures[:10]
            more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
            modeladmin.message_user(
                request,
                f"{len(failures)} order{'s' if len(failures) != 1 else ''} not changed{more}: "
                + " | ".join(shown),
                messages.ERROR,
            )

    action.__name__ = f"change_status_to_{to_status}"
    return admin.action(description=description, permissions=["change"])(action)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    form = OrderAdminForm
    list_display = (
        "order_number",
        "status",
        "partner_organization",
        "source_integration_name",
        "partner_order_id_display",
        "customer_name",
        "created_at",
    )
    list_filter = ("status", PartnerIntegrationListFilter)
    list_select_related = ("source_integration__partner_organization",)
    search_fields = ("order_number", "customer_name", "customer_email")
    search_help_text = (
        "Order number, customer name or email, or any partner reference "
        "(partner order id, dealer group, invoice, ...)."
    )
    autocomplete_fields = ("source_integration",)
    readonly_fields = ("id", "order_number", "current_status", "created_at", "updated_at")
    actions = (
        _change_status_action(OrderStatus.APPROVED, "Approve selected orders", "Approved"),
        _change_status_action(
            OrderStatus.IN_PROGRESS,
            "Start installation of selected orders",
            "Started installation of",
        ),
        _change_status_action(
            OrderStatus.COMPLETED, "Mark selected orders completed", "Marked completed"
        ),
        _change_status_action(OrderStatus.CANCELLED, "Cancel selected orders", "Cancelled"),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return (
                ("Partner", {"fields": ("source_integration", "partner_external_references")}),
                ("Customer and installation", {"fields": ORDER_DETAIL_FIELDS}),
            )
        return (
            (
                None,
                {
                    "fields": (
                        "id",
                        "order_number",
                        "created_at",
                        "updated_at",
                        "source_integration",
                    )
                },
            ),
            ("Status", {"fields": ("current_status", "change_status_to", "status_note")}),
            ("Partner", {"fields": ("partner_external_references",)}),
            ("Customer and installation", {"fields": ORDER_DETAIL_FIELDS}),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Which partner an order came from is a fact, not a setting.
        return (*self.readonly_fields, "source_integration")

    def get_inlines(self, request, obj):
        return (OrderStatusChangeInline,) if obj is not None else ()

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("source_integration__partner_organization")
            .defer(*_ORDER_INTEGRATION_SECRETS)
            .annotate(_partner_order_id=KT("partner_external_references__partner_order_id"))
        )

    def get_search_results(self, request, queryset, search_term):
        # Every term must match the order number, the customer, or anywhere in the partner
        # references. The JSON is searched as text, which works the same on SQLite and
        # PostgreSQL and finds keys nobody listed in advance.
        queryset = queryset.alias(_references_text=Cast("partner_external_references", TextField()))
        for term in smart_split(search_term):
            if term.startswith(('"', "'")) and term[0] == term[-1]:
                term = unescape_string_literal(term)
            in_references = Q(_references_text__icontains=term)
            if (escaped := json.dumps(term)[1:-1]) != term:
                # SQLite keeps the JSON as written: "ü" is stored as "\u00fc".
                in_references |= Q(_references_text__icontains=escaped)
            queryset = queryset.filter(
                Q(order_number__icontains=term)
                | Q(customer_name__icontains=term)
                | Q(customer_email__icontains=term)
                | in_references
            )
        return queryset, False

    @admin.display(description="Partner", ordering="source_integration__partner_organization__name")
    def partner_organization(self, obj):
        if not obj.source_integration_id:
            return "—"
        return obj.source_integration.partner_organization.name

    @admin.display(description="Integration", ordering="source_integration__integration_name")
    def source_integration_name(self, obj):
        if not obj.source_integration_id:
            return "—"
        return change_link(obj.source_integration)

    @admin.display(description="Partner order id", ordering="_partner_order_id")
    def partner_order_id_display(self, obj):
        return obj.partner_order_id or "—"

    @admin.display(description="Current status")
    def current_status(self, obj):
        allowed = allowed_next_statuses(obj.status)
        return format_html(
            "<strong>{}</strong> — {}",
            obj.get_status_display(),
            ("next: " + ", ".join(allowed) if allowed else "final: it cannot change any more"),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            self._create_through_engine(request, obj, form)
            return
        order_update(
            order=obj,
            changed_fields=[
                name for name in form.changed_data if name in {f.name for f in Order._meta.fields}
            ],
            to_status=form.cleaned_data.get("change_status_to"),
            user=request.user,
            note=form.cleaned_data.get("status_note", ""),
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            # order_update refused (the status moved on between showing the form and saving
            # it). The admin's transaction is rolled back with it: nothing of this save is
            # kept, not even its history entry, and the operator is told why.
            self.message_user(
                request, "Nothing was saved: " + " ".join(exc.messages), messages.ERROR
            )
            return HttpResponseRedirect(request.path)

    def _create_through_engine(self, request, obj, form):
        fields = {
            name: getattr(obj, name)
            for name in (*ORDER_DETAIL_FIELDS, "partner_external_references")
        }
        order = order_create(
            source=StatusChangeSource.STAFF,
            integration=obj.source_integration,
            user=request.user,
            **fields,
        )
        # The admin goes on with `obj` (log entry, redirect): make it the created order.
        for field in Order._meta.concrete_fields:
            setattr(obj, field.attname, getattr(order, field.attname))
        obj._state.adding = False
        obj._state.db = order._state.db


@admin.register(OrderStatusChange)
class OrderStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The status history of every order, read-only: it is the audit trail."""

    list_display = (
        "created_at",
        "order_link",
        "from_status",
        "to_status",
        "source",
        "integration_name",
        "user",
    )
    list_filter = ("source", "to_status")
    list_select_related = ("order", "integration", "user")
    search_fields = ("order__order_number",)

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*_CHANGE_INTEGRATION_SECRETS)

    @admin.display(description="Order", ordering="order__order_number")
    def order_link(self, obj):
        return change_link(obj.order)

    @admin.display(description="Integration", ordering="integration__integration_name")
    def integration_name(self, obj):
        return obj.integration.integration_name if obj.integration_id else "—"

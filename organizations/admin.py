from django.contrib import admin
from django.db.models import Count

from integrations.admin.integrations import PartnerIntegrationInline
from organizations.forms import OrganizationAdminForm
from organizations.models import Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    form = OrganizationAdminForm
    list_display = ("name", "organization_type", "is_active", "contact_email", "integration_count")
    list_filter = ("organization_type", "is_active")
    search_fields = ("name", "contact_name", "contact_email")
    readonly_fields = ("id", "created_at")
    fieldsets = (
        (None, {"fields": ("id", "created_at", "name", "organization_type", "is_active")}),
        ("Contact", {"fields": ("contact_name", "contact_email", "contact_phone", "notes")}),
    )
    inlines = (PartnerIntegrationInline,)

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_integration_count=Count("integrations"))

    @admin.display(description="Integrations", ordering="_integration_count")
    def integration_count(self, obj):
        return obj._integration_count

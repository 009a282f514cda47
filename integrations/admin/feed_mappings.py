"""Admin for feed mappings: how to read a custom partner's order feed, with Preview mapping
(a pasted sample record applied to the mapping as typed, before anything is saved)."""

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html

from chargecars.admin_fields import PrettyJSONField, related_secret_field_names
from integrations.models import FeedMapping, PartnerIntegration
from integrations.sync.mapping import RECORD_FIELDS, feed_mapping_errors
from integrations.sync.preview import mapping_preview


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

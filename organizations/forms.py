"""Admin forms for organizations."""

from django import forms
from django.core.exceptions import ValidationError

from organizations.models import Organization


class OrganizationAdminForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = [
            "name",
            "organization_type",
            "is_active",
            "contact_name",
            "contact_email",
            "contact_phone",
            "notes",
        ]

    def clean_organization_type(self):
        value = self.cleaned_data.get("organization_type")
        instance = self.instance
        if instance._state.adding or not value or value.startswith("partner_"):
            return value
        names = list(instance.integrations.values_list("integration_name", flat=True)[:5])
        if names:
            # An integration's organization must be a partner: every later save of these
            # integrations would fail with "Select a valid choice".
            raise ValidationError(
                "%(organization)s has partner integrations (%(names)s), so it must stay a "
                "partner type. Move or delete its integrations first.",
                code="has_integrations",
                params={"organization": instance.name, "names": ", ".join(names)},
            )
        return value

"""Admin forms for partner integrations.

``api_credentials`` and ``webhook_secret`` are write-only here: their widgets never
render a value (neither the stored one nor what was typed before a failed save), and a
blank field keeps what is stored. The admin shows them masked in read-only fields.
"""

import base64
import binascii
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from chargecars.admin_fields import PrettyJSONField
from integrations import config
from integrations.models import AuthenticationType, PartnerIntegration
from integrations.secrets import WEBHOOK_SECRET_PREFIX, generate_webhook_secret, mask_secret

# Credential keys that identify rather than authenticate; the admin may show them in full.
NON_SECRET_CREDENTIAL_KEYS = frozenset(
    {"client_id", "token_endpoint", "header_name", "username", "scope"}
)


def credentials_help_text() -> str:
    lines = []
    for auth_type in AuthenticationType:
        needs = " or ".join(
            "{" + ", ".join(keys) + "}" for keys in config.REQUIRED_CREDENTIALS[auth_type]
        )
        optional = config.OPTIONAL_CREDENTIALS.get(auth_type, ())
        line = f"{auth_type.value}: {needs}"
        if optional:
            line += f"; optional: {', '.join(optional)}"
        lines.append(line)
    return format_html(
        "A JSON object. Leave blank to keep the stored credentials; they are never shown "
        "again, so enter the complete set when you change them ({{}} removes them).<br>{}",
        format_html_join("", "{}<br>", ((line,) for line in lines)),
    )


def masked_credentials(credentials) -> str:
    """Stored credentials as the admin may show them: identifiers in full, secrets masked."""
    if not credentials:
        return "(not set)"
    if not isinstance(credentials, dict):
        return mask_secret(str(credentials))
    return format_html(
        "<ul style='margin:0;padding-left:1em'>{}</ul>",
        format_html_join(
            "",
            "<li><code>{}</code>: {}</li>",
            (
                (
                    key,
                    value if key in NON_SECRET_CREDENTIAL_KEYS else mask_secret(str(value)),
                )
                for key, value in sorted(credentials.items())
            ),
        ),
    )


def _origin(url: str | None) -> tuple | None:
    """Where a URL sends a request: scheme, host and port (None for no URL)."""
    if not url:
        return None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (
        parts.scheme.lower(),
        parts.hostname,
        port or {"http": 80, "https": 443}.get(parts.scheme),
    )


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never sends a value back to the browser."""

    def format_value(self, value):
        return None


class WriteOnlyJSONField(PrettyJSONField):
    widget = WriteOnlyTextarea(
        attrs={"rows": 6, "cols": 80, "style": "font-family: monospace", "autocomplete": "off"}
    )

    def has_changed(self, initial, data):
        return bool(data and str(data).strip())


class WriteOnlySecretField(forms.CharField):
    widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})

    def has_changed(self, initial, data):
        return bool(data and str(data).strip())


def validate_webhook_secret_format(value: str) -> None:
    problem = (
        f"A webhook secret is {WEBHOOK_SECRET_PREFIX} followed by base64 of at least 24 random "
        "bytes (Standard Webhooks). Leave it blank to keep the current one, or to generate "
        "one for a new integration."
    )
    if not value.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValidationError(problem, code="invalid_secret")
    try:
        raw = base64.b64decode(value.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(problem, code="invalid_secret") from None
    if len(raw) < 24:
        raise ValidationError(problem, code="invalid_secret")


class PartnerIntegrationAdminForm(forms.ModelForm):
    api_credentials = WriteOnlyJSONField(
        required=False, label="New API credentials", help_text=credentials_help_text()
    )
    webhook_secret = WriteOnlySecretField(
        required=False,
        strip=True,
        label="New webhook secret",
        help_text=(
            "Leave blank to keep the current secret (a new integration gets a generated one, "
            "shown once after saving). A new secret takes effect immediately, so the partner "
            f"must switch at the same time. Format: {WEBHOOK_SECRET_PREFIX} + base64."
        ),
    )
    webhook_events = forms.MultipleChoiceField(
        required=False,
        choices=[(event, event) for event in config.WEBHOOK_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        help_text="Order events the partner is notified about at webhook_url.",
    )
    status_mapping = PrettyJSONField(
        required=False,
        help_text=(
            'Two objects: "chargecars_to_partner" maps each ChargeCars status (new, approved, '
            'in_progress, completed, cancelled) to the partner\'s status; "partner_to_chargecars" '
            "maps each partner status to exactly one ChargeCars status."
        ),
    )

    class Meta:
        model = PartnerIntegration
        fields = [
            "partner_organization",
            "integration_name",
            "api_base_url",
            "api_version",
            "authentication_type",
            "api_credentials",
            "webhook_url",
            "webhook_secret",
            "webhook_events",
            "status_mapping",
            "is_active",
            "sync_enabled",
            "sync_frequency",
        ]
        widgets = {
            "integration_name": forms.TextInput(attrs={"size": 40}),
            "api_base_url": forms.URLInput(attrs={"size": 80}),
            "api_version": forms.TextInput(attrs={"size": 10}),
            "webhook_url": forms.URLInput(attrs={"size": 80}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The generated secret, when this save creates one; the admin shows it once.
        self.generated_webhook_secret: str | None = None
        self.kept_stored_credentials = False
        # Never let a stored secret reach the template context, even through `initial`.
        self.initial.pop("api_credentials", None)
        self.initial.pop("webhook_secret", None)

    @property
    def _adding(self) -> bool:
        return self.instance._state.adding

    def clean_api_credentials(self):
        value = self.cleaned_data.get("api_credentials")
        if value is None:
            if self._adding:
                return None
            self.kept_stored_credentials = bool(self.instance.api_credentials)
            return self.instance.api_credentials
        if not isinstance(value, dict):
            raise ValidationError(
                'API credentials must be a JSON object of key -> value, e.g. {"api_key": "..."}.',
                code="invalid",
            )
        return value

    def clean_webhook_secret(self):
        value = self.cleaned_data.get("webhook_secret") or ""
        if value:
            validate_webhook_secret_format(value)
            return value
        if self._adding:
            self.generated_webhook_secret = generate_webhook_secret()
            return self.generated_webhook_secret
        return self.instance.webhook_secret

    def clean_webhook_events(self):
        # Keep the catalog's order, whatever order the boxes were ticked in.
        chosen = set(self.cleaned_data.get("webhook_events") or [])
        return [event for event in config.WEBHOOK_EVENTS if event in chosen]

    def clean(self):
        cleaned = super().clean()
        # The model's clean() checks the credentials against authentication_type and names
        # the missing keys. When the field was left blank the stored set was kept, and the
        # operator needs to know that is what failed (e.g. after changing only the type).
        if self.kept_stored_credentials and "authentication_type" in cleaned:
            try:
                config.validate_credentials(
                    cleaned["authentication_type"], cleaned.get("api_credentials")
                )
            except ValidationError:
                self.add_error(
                    "api_credentials",
                    "The stored credentials do not fit this authentication type: enter a "
                    "complete new set.",
                )
        # The stored credentials go wherever api_base_url points: sending them to another
        # host takes someone who knows them, or they could be read back there.
        if (
            self.kept_stored_credentials
            and "api_base_url" in self.changed_data
            and _origin(cleaned.get("api_base_url")) != _origin(self.instance.api_base_url)
        ):
            self.add_error(
                "api_credentials",
                "The API base URL now points to another host: enter the credentials again "
                "(the stored ones are only sent where they were entered for).",
            )
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            # Nothing is saved, so nothing was generated.
            self.generated_webhook_secret = None

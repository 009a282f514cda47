"""Admin building blocks that every app's admin shares (no app code imported here)."""

import json

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from encrypted_model_fields.fields import EncryptedMixin

from chargecars.wire import DuplicateKey, NonFiniteNumber, NumberTooLarge, strict_json_loads


def secret_field_names(model: type[models.Model]) -> tuple[str, ...]:
    """The model's encrypted columns. Lists, inlines, filters and autocompletes defer them:
    nothing is decrypted that is not shown, and a wrong key cannot break a whole list."""
    return tuple(
        field.name for field in model._meta.concrete_fields if isinstance(field, EncryptedMixin)
    )


def related_secret_field_names(model: type[models.Model], relation: str) -> list[str]:
    """``secret_field_names`` of the model behind ``relation``, as lookups from ``model``
    (``source_integration__api_credentials``), for ``defer()`` after ``select_related``."""
    related = model._meta.get_field(relation).related_model
    return [f"{relation}__{name}" for name in secret_field_names(related)]


def change_link(obj: models.Model | None, text: str | None = None):
    """A link to ``obj``'s admin change page, or its text where it has none ("-" for no obj)."""
    if obj is None:
        return "-"
    text = str(obj) if text is None else text
    opts = obj._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return text
    return format_html('<a href="{}">{}</a>', url, text)


class ServiceWrittenAdminMixin:
    """For rows that service functions write (deliveries, holds): never added or deleted
    in the admin. Changing stays allowed where admin actions act on them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdminMixin(ServiceWrittenAdminMixin):
    """For audit trails and summaries: rows are viewed in the admin, never added, edited or
    deleted there (they are written by service functions)."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class PrettyJSONField(forms.JSONField):
    """A JSON textarea shown indented, with an error that says where the JSON is broken."""

    widget = forms.Textarea(attrs={"rows": 14, "cols": 80, "style": "font-family: monospace"})

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, list | dict | int | float | bool):
            return value
        try:
            return strict_json_loads(value)
        except NonFiniteNumber as exc:
            raise ValidationError(
                "This is not valid JSON: %(constant)s is not a JSON number; use a number or null.",
                code="invalid",
                params={"constant": exc.constant},
            ) from None
        except NumberTooLarge as exc:
            raise ValidationError(
                "This is not valid JSON for this field: %(number)s is too large for a number.",
                code="invalid",
                params={"number": exc.text},
            ) from None
        except RecursionError:
            raise ValidationError(
                "This is not valid JSON for this field: it is nested too deeply.",
                code="invalid",
            ) from None
        except DuplicateKey as exc:
            raise ValidationError(
                "The key %(key)r appears twice in one object; each key may appear once.",
                code="duplicate_key",
                params={"key": exc.key},
            ) from None
        except json.JSONDecodeError as exc:
            raise ValidationError(
                "This is not valid JSON: %(problem)s at line %(line)s, column %(column)s. "
                "Use double quotes around keys and strings and no trailing commas.",
                code="invalid",
                params={"problem": exc.msg, "line": exc.lineno, "column": exc.colno},
            ) from None

    def bound_data(self, data, initial):
        # What is shown again after a failed save: the text as typed when it does not parse
        # (Django's version lets a RecursionError through).
        if self.disabled:
            return initial
        if data is None:
            return None
        try:
            return self.to_python(data)
        except ValidationError:
            return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value):
        if value is None or isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)

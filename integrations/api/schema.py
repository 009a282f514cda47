"""OpenAPI pre- and post-processing: one path per endpoint, errors as problem+json, request
bodies that say they refuse unknown fields."""

from drf_spectacular.extensions import OpenApiSerializerExtension

from integrations.api.errors import PROBLEM_CONTENT_TYPE


class StrictSerializerExtension(OpenApiSerializerExtension):
    """A StrictSerializer refuses fields it does not know: ``additionalProperties: false``,
    and a component named after the body (``OrderCreateRequest``, not ``...RequestRequest``)."""

    target_class = "integrations.api.serializers.StrictSerializer"
    match_subclasses = True

    def get_name(self, auto_schema, direction):
        return self.target.__class__.__name__.removesuffix("Serializer").removesuffix("Request")

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


def problem_content_types(result, generator, request, public):
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(code)[0] in "45" and "application/json" in content:
                    content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["name"] == "integration_name":
                    parameter["schema"]["pattern"] = "^[-a-zA-Z0-9_]+$"
    return result


def without_slashless_twins(endpoints, **kwargs):
    """Document each partner endpoint once, with its trailing slash."""
    return [endpoint for endpoint in endpoints if endpoint[0].endswith("/")]

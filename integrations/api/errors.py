"""RFC 9457 problem details: the one error format of everything under /api/."""

import json
import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from rest_framework import exceptions
from rest_framework.views import set_rollback

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://docs.chargecars.nl/partner-api/problems/"

# code -> (HTTP status, title). The codes are the last segment of each problem's `type`.
PROBLEMS: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "Malformed JSON body"),
    "invalid-signature": (401, "Invalid or missing signature"),
    "integration-disabled": (403, "Integration disabled"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "transition-refused": (409, "Status transition refused"),
    "length-required": (411, "Content-Length required"),
    "payload-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation-error": (422, "Invalid request fields"),
    "unknown-partner-status": (422, "Unknown partner status"),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal error"),
}


class ProblemError(Exception):
    """An error answered as problem+json. ``extra`` members are added to the document."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra,
    ):
        super().__init__(detail)
        self.code = code
        self.status, self.title = PROBLEMS[code]
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def as_dict(self) -> dict:
        document = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            document["errors"] = self.errors
        document.update(self.extra)
        return document


def problem_response(
    document: dict, *, status: int | None = None, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = HttpResponse(
        json.dumps(document),
        status=status or document["status"],
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def problem(code: str, detail: str, **kwargs) -> HttpResponse:
    error = ProblemError(code, detail, **kwargs)
    return problem_response(error.as_dict(), headers=error.headers)


def _field_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested validation detail into {"field.sub": [messages]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" and not prefix else f"{prefix}{key}"
            flat.update(_field_errors(value, prefix=f"{name}."))
            if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
                flat[name] = [str(v) for v in value]
        return {k: v for k, v in flat.items() if v}
    if isinstance(detail, list):
        return {prefix.rstrip(".") or "body": [str(v) for v in detail]}
    return {prefix.rstrip(".") or "body": [str(detail)]}


def validation_problem(detail) -> ProblemError:
    errors = _field_errors(detail)
    return ProblemError(
        "validation-error",
        "Some fields are missing or invalid; see `errors` for each field.",
        errors=errors,
    )


def problem_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception becomes a problem+json response."""
    set_rollback()
    if isinstance(exc, ProblemError):
        return problem_response(exc.as_dict(), headers=exc.headers)
    if isinstance(exc, exceptions.ValidationError):
        error = validation_problem(exc.detail)
        return problem_response(error.as_dict())
    if isinstance(exc, Http404 | exceptions.NotFound):
        return problem("not-found", "There is nothing at this address.")
    if isinstance(exc, exceptions.MethodNotAllowed):
        view = context.get("view")
        allowed = ", ".join(view.allowed_methods) if view else ""
        return problem(
            "method-not-allowed",
            f"{exc.detail} Allowed: {allowed}.",
            headers={"Allow": allowed} if allowed else None,
        )
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return problem("unsupported-media-type", "Send the body as application/json.")
    if isinstance(exc, exceptions.ParseError):
        return problem("malformed-json", str(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        return problem(
            "rate-limited",
            str(exc.detail),
            headers={"Retry-After": str(exc.wait or 1)},
        )
    if isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        return problem("integration-disabled", str(exc) or "Access denied.")
    if isinstance(exc, exceptions.APIException):
        return problem_response(
            {
                "type": "about:blank",
                "title": str(exc.default_detail),
                "status": exc.status_code,
                "detail": str(exc.detail),
            }
        )
    logger.exception("Unhandled error in the partner API", exc_info=exc)
    return problem("internal-error", "Something went wrong on our side; retry later.")


# --- Django-level handlers for /api/ (URLs no view matched, crashes outside DRF) -------------


def api_not_found(request, exception=None) -> HttpResponse:
    return problem("not-found", f"No API endpoint at {request.path}.")


def api_server_error(request) -> HttpResponse:
    return problem("internal-error", "Something went wrong on our side; retry later.")


def not_found_handler(request, exception=None):
    """handler404: problem+json under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error_handler(request):
    """handler500: problem+json under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_server_error(request)
    from django.views.defaults import server_error

    return server_error(request)

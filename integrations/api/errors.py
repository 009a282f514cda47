"""Problem documents over HTTP: problem+json responses, DRF's exception handler, and the
404/500 handlers for /api/ (the catalogue itself is ``problems``)."""

import json
import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.views import set_rollback

from integrations.api.problems import ProblemError, validation_problem

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


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
    return defaults.page_not_found(request, exception)


def server_error_handler(request):
    """handler500: problem+json under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return api_server_error(request)
    return defaults.server_error(request)

"""The partner API's request gate: the checks a request passes before it is applied.

An unknown integration is answered 404 and not stored (there is nothing to store it
under). Then ``CHECKS``, in this order: disabled integration (403), body of unknown
length (411), body too large (413), body not readable as sent (415), signature (401),
rate limit (429). Each check returns a ``Refusal`` or None; the first refusal is stored
as an inbound event and answered. A request that passes them all goes to
``inbound_request_process``, which applies it at most once.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from integrations.api.inbound import (
    InboundRequest,
    headers_sanitised,
    inbound_event_record_refusal,
)
from integrations.api.problems import ProblemError
from integrations.api.ratelimit import rate_limit_hit
from integrations.api.selectors import integration_for_api
from integrations.models import InboundEvent, PartnerIntegration
from integrations.signing import SignatureError, webhook_request_verify

Outcome = InboundEvent.Outcome
Verdict = InboundEvent.Verdict

# Content-Encoding values that compress the body: Django does not decompress it, so the
# signature check would fail with a misleading reason. (Other values, such as the "utf-8"
# some clients put there by mistake, change nothing and are let through.)
COMPRESSIONS = frozenset({"gzip", "x-gzip", "deflate", "br", "compress", "x-compress", "zstd"})


@dataclass(frozen=True)
class Refusal:
    """Why a request is not applied: the signature verdict and outcome stored, the answer."""

    verdict: str
    outcome: str
    problem: ProblemError


def _integration(integration_name: str, *, fresh: bool = False) -> PartnerIntegration:
    integration = integration_for_api(integration_name, fresh=fresh)
    if integration is None:
        raise ProblemError("not-found", f"There is no integration {integration_name!r}.")
    return integration


# --- The checks: each takes the Django request and the request as received ------------------


def _disabled(django_request: HttpRequest, received: InboundRequest) -> Refusal | None:
    if received.integration.is_active:
        return None
    return Refusal(
        Verdict.NOT_CHECKED,
        Outcome.FORBIDDEN,
        ProblemError(
            "integration-disabled",
            f"The integration {received.integration.integration_name!r} is disabled; "
            "ChargeCars accepts no requests for it. Contact ChargeCars operations.",
        ),
    )


def _length_unknown(django_request: HttpRequest, received: InboundRequest) -> Refusal | None:
    meta = django_request.META
    if not (
        django_request.method == "POST"
        and meta.get("HTTP_TRANSFER_ENCODING")
        and not meta.get("CONTENT_LENGTH")
    ):
        return None
    # Django reads no body without a Content-Length: the signature check would fail on an
    # empty body with a misleading "No signature matches".
    return Refusal(
        Verdict.NOT_CHECKED,
        Outcome.REJECTED,
        ProblemError(
            "length-required",
            "The body came without a Content-Length header (Transfer-Encoding: "
            f"{meta['HTTP_TRANSFER_ENCODING'][:50]}), so it cannot be read; send it "
            "with a Content-Length header, not streamed.",
        ),
    )


def _too_large(django_request: HttpRequest, received: InboundRequest) -> Refusal | None:
    """A body over PARTNER_API_MAX_BODY_BYTES, declared or read; else the body is kept."""
    limit = settings.PARTNER_API_MAX_BODY_BYTES
    try:
        declared = int(django_request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared <= limit:
        try:
            body = django_request.body
        except RequestDataTooBig:  # DATA_UPLOAD_MAX_MEMORY_SIZE, if set below our limit
            body = None
        if body is not None and len(body) <= limit:
            received.body = body
            return None
    return Refusal(
        Verdict.NOT_CHECKED,
        Outcome.TOO_LARGE,
        ProblemError("payload-too-large", f"The body is larger than the limit of {limit} bytes."),
    )


def _unsupported_media(django_request: HttpRequest, received: InboundRequest) -> Refusal | None:
    """A POST body that cannot be read as sent (wrong content type, compressed)."""
    if django_request.method != "POST":
        return None
    content_type = django_request.content_type or ""
    encoding = django_request.META.get("HTTP_CONTENT_ENCODING", "").lower()
    if content_type != "application/json":
        reason = (
            f"Content-Type {content_type or '(none)'!r} is not supported; send the body as "
            "application/json."
        )
    elif COMPRESSIONS.intersection(part.strip() for part in encoding.split(",")):
        reason = f"Content-Encoding {encoding[:50]!r} is not supported; send the body uncompressed."
    else:
        return None
    return Refusal(
        Verdict.NOT_CHECKED, Outcome.REJECTED, ProblemError("unsupported-media-type", reason)
    )


def _bad_signature(django_request: HttpRequest, received: InboundRequest) -> Refusal | None:
    """A signature that none of the integration's valid secrets made (or a malformed one)."""
    try:
        try:
            webhook_request_verify(
                integration=received.integration, headers=django_request.headers, body=received.body
            )
        except SignatureError as exc:
            if exc.verdict != Verdict.MISMATCH:
                raise
            # The cached integration may predate a rotation done in another process.
            received.integration = _integration(received.integration.integration_name, fresh=True)
            webhook_request_verify(
                integration=received.integration, headers=django_request.headers, body=received.body
            )
    except SignatureError as exc:
        return Refusal(
            exc.verdict, Outcome.UNAUTHORIZED, ProblemError("invalid-signature", exc.reason)
        )
    return None


def _rate_limited(django_request: HttpRequest, received: InboundRequest) -> Refusal | None:
    wait = rate_limit_hit(scope=f"partner:{received.integration.pk}")
    if not wait:
        return None
    return Refusal(
        Verdict.VALID,
        Outcome.RATE_LIMITED,
        ProblemError(
            "rate-limited",
            f"Too many requests for this integration; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
        ),
    )


CHECKS: tuple[Callable[[HttpRequest, InboundRequest], Refusal | None], ...] = (
    _disabled,
    _length_unknown,
    _too_large,
    _unsupported_media,
    _bad_signature,
    _rate_limited,
)


def inbound_request_admit(
    django_request: HttpRequest, *, action: str, integration_name: str, partner_order_id: str = ""
) -> InboundRequest:
    """The request as received, once it passed every check.

    Raises the first refusal's ProblemError, after storing the refusal as an inbound event.
    """
    received = InboundRequest(
        integration=_integration(integration_name),
        action=action,
        method=django_request.method,
        path=django_request.path,
        headers=headers_sanitised(django_request.headers),
        remote_addr=django_request.META.get("REMOTE_ADDR") or None,
        partner_order_id=partner_order_id,
    )
    for check in CHECKS:
        if refusal := check(django_request, received):
            inbound_event_record_refusal(
                request=received,
                verdict=refusal.verdict,
                outcome=refusal.outcome,
                problem=refusal.problem,
            )
            raise refusal.problem
    return received

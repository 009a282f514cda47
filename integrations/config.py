"""Validation of an integration's configuration: name, URLs, events, mapping, credentials."""

import re
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from integrations.http import address_is_public, redact_url
from orders.status import OrderStatus

WEBHOOK_EVENTS: dict[str, str] = {
    "order_created": "An order was created for this partner",
    "order_approved": "The order was approved",
    "installation_started": "Installation started",
    "installation_completed": "Installation completed",
    "order_cancelled": "The order was cancelled",
}

INTEGRATION_NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")

# Keys each authentication_type needs in api_credentials; one of the alternatives must be
# complete. The Volvo example in the source document uses bearer_token with client
# credentials and a token endpoint.
REQUIRED_CREDENTIALS: dict[str, tuple[tuple[str, ...], ...]] = {
    "api_key": (("api_key",),),
    "basic_auth": (("username", "password"),),
    "bearer_token": (("token",), ("client_id", "client_secret", "token_endpoint")),
    "oauth2": (("client_id", "client_secret", "token_endpoint"),),
}
OPTIONAL_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "api_key": ("header_name",),
    "basic_auth": (),
    "bearer_token": ("scope",),
    "oauth2": ("scope",),
}
DEFAULT_API_KEY_HEADER = "X-API-Key"
# Credential values the client sends in an HTTP header (directly, or as basic auth to the
# API or the token endpoint): http.client encodes header values as latin-1.
HEADER_BORNE_CREDENTIALS = frozenset(
    {"api_key", "token", "username", "password", "client_id", "client_secret"}
)
# RFC 9110 token: what a header field name may consist of.
HEADER_NAME_PATTERN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def validate_integration_name(value: str) -> None:
    if not INTEGRATION_NAME_PATTERN.match(value or ""):
        raise ValidationError(
            "Use 1-64 lowercase letters, digits, '_' or '-', starting and ending with a "
            "letter or digit (e.g. volvo_dealer_api): it appears in the partner's API URLs.",
            code="invalid_integration_name",
        )


def _is_private_address(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except (socket.gaierror, UnicodeError):
        return False  # unresolvable now; the connection checks the address it reaches
    return not all(address_is_public(info[4][0]) for info in infos)


def check_outbound_url(url: str) -> str | None:
    """Why we refuse to call ``url``, or None when it is acceptable.

    Production requires https and a public address (no SSRF into our own network);
    PARTNER_ALLOW_PRIVATE_NETWORKS lifts both for development and tests.
    """
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "The URL is not a valid http(s) URL."
    try:
        port = urlsplit(url).port
    except ValueError:
        port = 0
    if port == 0:
        return "The URL's port is out of range (1-65535)."
    if settings.PARTNER_ALLOW_PRIVATE_NETWORKS:
        return None
    # The message reaches attempt records, last_error_message and the admin: the URL is
    # shown without user-info or query string, which may hold the partner's credentials.
    shown = redact_url(url)
    parts = urlsplit(url)
    if parts.scheme != "https":
        return f"{shown!r} must use https."
    if _is_private_address(parts.hostname or ""):
        return (
            f"{shown!r} points to a private, loopback or link-local address; partner "
            "endpoints must be public."
        )
    return None


def validate_outbound_url(value: str) -> None:
    if value and (problem := check_outbound_url(value)):
        raise ValidationError(problem, code="unsafe_url")


def validate_webhook_events(value) -> None:
    if value in (None, []):
        return
    if not isinstance(value, list) or not all(isinstance(event, str) for event in value):
        raise ValidationError("webhook_events must be a list of event names.", code="invalid")
    unknown = sorted(set(value) - set(WEBHOOK_EVENTS))
    if unknown:
        raise ValidationError(
            f"Unknown webhook event(s): {', '.join(unknown)}. "
            f"Known events: {', '.join(WEBHOOK_EVENTS)}.",
            code="unknown_event",
        )


def validate_status_mapping(value) -> None:
    if value in (None, {}):
        return
    known = set(OrderStatus.values)
    known_text = ", ".join(OrderStatus.values)
    if not isinstance(value, dict):
        raise ValidationError(
            "status_mapping must be an object with 'chargecars_to_partner' and "
            "'partner_to_chargecars'.",
            code="invalid",
        )
    errors = []
    for direction in ("chargecars_to_partner", "partner_to_chargecars"):
        if not isinstance(value.get(direction), dict):
            errors.append(f"'{direction}' is missing or not an object of status -> status.")
    extra = sorted(set(value) - {"chargecars_to_partner", "partner_to_chargecars"})
    if extra:
        errors.append(f"Unexpected key(s) {', '.join(extra)}; only the two directions are allowed.")
    if errors:
        raise ValidationError(errors, code="invalid")

    for ours, theirs in value["chargecars_to_partner"].items():
        if ours not in known:
            errors.append(
                f"chargecars_to_partner: '{ours}' is not a ChargeCars status ({known_text})."
            )
        if not isinstance(theirs, str) or not theirs.strip():
            errors.append(
                f"chargecars_to_partner: '{ours}' must map to a non-empty partner status."
            )
    for ours, theirs in value["chargecars_to_partner"].items():
        back = value["partner_to_chargecars"].get(theirs) if isinstance(theirs, str) else None
        if back is not None and back != ours:
            errors.append(
                f"The directions disagree: '{ours}' is sent as '{theirs}', but '{theirs}' "
                f"is read back as '{back}'."
            )
    for theirs, ours in value["partner_to_chargecars"].items():
        if not theirs.strip():
            errors.append("partner_to_chargecars: partner status names cannot be empty.")
        if not isinstance(ours, str) or ours not in known:
            errors.append(
                f"partner_to_chargecars: '{theirs}' maps to {ours!r}, which is not a "
                f"ChargeCars status ({known_text}); map each partner status to exactly one."
            )
    if errors:
        raise ValidationError(errors, code="invalid")


def validate_credentials(authentication_type: str, credentials) -> None:
    """Check api_credentials has what authentication_type needs; errors name the missing keys."""
    if credentials in (None, {}):
        return  # not configured yet: outbound API calls are refused until it is
    if not isinstance(credentials, dict):
        raise ValidationError(
            {"api_credentials": "api_credentials must be a JSON object of key -> value."}
        )
    alternatives = REQUIRED_CREDENTIALS.get(authentication_type)
    if alternatives is None:
        return
    problems = _credential_value_problems(credentials)
    if problems:
        raise ValidationError({"api_credentials": problems}, code="invalid_credential_value")
    for keys in alternatives:
        if all(str(credentials.get(key) or "").strip() for key in keys):
            break
    else:
        options = " or ".join("+".join(keys) for keys in alternatives)

        def present(keys):
            return [key for key in keys if str(credentials.get(key) or "").strip()]

        # Name what is missing from the alternative the operator was evidently filling in.
        best = max(alternatives, key=lambda keys: (len(present(keys)), -len(keys)))
        missing = [key for key in best if key not in present(best)]
        raise ValidationError(
            {
                "api_credentials": (
                    f"{authentication_type} credentials are missing {', '.join(missing)} "
                    f"(needs {options})."
                )
            },
            code="missing_credentials",
        )
    for key in ("token_endpoint",):
        if credentials.get(key) and (problem := check_outbound_url(str(credentials[key]))):
            raise ValidationError({"api_credentials": f"{key}: {problem}"}, code="unsafe_url")


def _credential_value_problems(credentials: dict) -> list[str]:
    """Values that could not be sent in an HTTP request; messages name the key, never the
    value (it is a secret)."""
    problems = []
    if "header_name" in credentials:
        name = credentials["header_name"]
        if not isinstance(name, str) or not HEADER_NAME_PATTERN.match(name):
            problems.append(
                "header_name must be a header name such as X-API-Key: letters, digits and "
                "!#$%&'*+-.^_`|~ only, no spaces."
            )
    for key, value in credentials.items():
        if key == "header_name" or not isinstance(value, str) or not value:
            continue
        if value != value.strip():
            problems.append(f"{key} has leading or trailing whitespace; remove it.")
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            problems.append(
                f"{key} contains a control character (such as a line break or tab), which "
                "cannot be sent in an HTTP request."
            )
        if key in HEADER_BORNE_CREDENTIALS:
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                problems.append(
                    f"{key} contains characters outside Latin-1 (such as €), which cannot be "
                    "sent in an HTTP header."
                )
    return problems

"""RFC 9457 problem details: the one error format of everything under /api/.

The catalogue of problems and the document each one becomes; ``errors`` turns them into
HTTP responses.
"""

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
        # The service error this problem answers, if any (e.g. a TransitionRefused).
        self.refusal: Exception | None = None

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


def validation_problem(detail, *, summary: str = "") -> ProblemError:
    """422 with messages per field; ``detail`` may be nested (as DRF gives it).

    ``summary`` replaces the general sentence when one thing is wrong.
    """
    errors = _field_errors(detail)
    return ProblemError(
        "validation-error",
        summary or "Some fields are missing or invalid; see `errors` for each field.",
        errors=errors,
    )

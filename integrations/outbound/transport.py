"""The HTTP send: one signed POST to a partner's webhook URL, and what came of it."""

import time
from dataclasses import dataclass
from datetime import datetime

import requests
import urllib3
from django.conf import settings
from django.utils import timezone

from integrations.config import check_outbound_url
from integrations.http import error_text, session_for
from integrations.outbound.retry import (
    FAIL,
    GONE,
    RETRY,
    SUCCESS,
    classify_status,
    retry_after_seconds,
)
from integrations.signing import signature_headers


@dataclass
class AttemptResult:
    outcome: str
    attempted_at: datetime
    duration_ms: int = 0
    status_code: int | None = None
    response_excerpt: str = ""
    error_class: str = ""
    error_message: str = ""
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.outcome == SUCCESS

    @property
    def summary(self) -> str:
        if self.status_code is not None:
            text = f"HTTP {self.status_code}"
            return f"{text}: {self.error_message}" if self.error_message else text
        return f"{self.error_class}: {self.error_message}"


def _read_excerpt(response: requests.Response, *, url: str, deadline: float) -> tuple[str, str]:
    """The start of the response body as text, and a note when the body was cut off.

    Reading stops at ``deadline`` (a ``time.perf_counter()`` value) and the connection is
    dropped: the read timeout bounds each socket read, not the body, so a partner that
    trickles its answer could otherwise hold one send past the claim's lease.
    """
    cap = settings.WEBHOOK_RESPONSE_EXCERPT_CHARS
    raw = response.raw
    chunks, size, note = [], 0, ""
    too_slow = "the partner sent its response body too slowly: stopped reading it"
    try:
        while size <= cap * 4:  # beyond that the rest is not read: the connection is dropped
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                note = too_slow
                break
            sock = getattr(raw.connection, "sock", None)
            if sock is not None:
                sock.settimeout(min(remaining, settings.WEBHOOK_READ_TIMEOUT))
            chunk = raw.read1(8192, decode_content=True)  # what has arrived, not a full 8 KiB
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        # The status line and headers arrived: the answer stands, only its body is partial.
        if time.perf_counter() >= deadline:
            note = too_slow
        else:
            note = f"the connection broke while the response body was read: {error_text(exc, url)}"
    finally:
        response.close()
    text = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
    return text[:cap], note


def _answer_result(
    response: requests.Response, *, url: str, now: datetime, deadline: float
) -> AttemptResult:
    """Class the partner's answer; its body is read until ``deadline`` for the excerpt."""
    excerpt, cut_off = _read_excerpt(response, url=url, deadline=deadline)
    outcome = classify_status(response.status_code)
    result = AttemptResult(
        outcome,
        now,
        status_code=response.status_code,
        response_excerpt=excerpt,
        retry_after=retry_after_seconds(response.headers.get("Retry-After"), now=now),
    )
    if 300 <= response.status_code < 400:
        result.error_message = "redirects are not followed; configure the final URL"
    elif outcome == GONE:
        result.error_message = "410 Gone: the partner retired this endpoint"
    if cut_off:
        result.error_message = "; ".join(filter(None, [result.error_message, cut_off]))
    return result


def webhook_post(
    *, url: str, secrets: list[str], msg_id: str, body: str, url_checked: bool = False
) -> AttemptResult:
    """POST one signed webhook and classify what happened. Never raises for HTTP trouble.

    ``url_checked``: the caller already applied the SSRF policy to ``url`` (once per batch).
    """
    now = timezone.now()
    if not url_checked and (problem := check_outbound_url(url)):
        return AttemptResult(FAIL, now, error_class="refused_url", error_message=problem)
    if not secrets:
        return AttemptResult(
            FAIL,
            now,
            error_class="no_secret",
            error_message="The integration has no webhook secret.",
        )
    headers = signature_headers(secrets=secrets, msg_id=msg_id, timestamp=now, body=body)
    headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    try:
        response = session_for(url).post(
            url,
            data=body.encode(),
            headers=headers,
            timeout=(settings.WEBHOOK_CONNECT_TIMEOUT, settings.WEBHOOK_READ_TIMEOUT),
            allow_redirects=False,
            stream=True,
        )
    except requests.Timeout as exc:
        result = AttemptResult(
            RETRY, now, error_class="timeout", error_message=error_text(exc, url)
        )
    except requests.ConnectionError as exc:
        result = AttemptResult(
            RETRY, now, error_class="connection_error", error_message=error_text(exc, url)
        )
    except requests.RequestException as exc:
        result = AttemptResult(
            FAIL, now, error_class=type(exc).__name__, error_message=error_text(exc, url)
        )
    else:
        # Connect + read timeout is the whole send's budget, body included.
        budget = settings.WEBHOOK_CONNECT_TIMEOUT + settings.WEBHOOK_READ_TIMEOUT
        result = _answer_result(response, url=url, now=now, deadline=started + budget)
    result.duration_ms = int((time.perf_counter() - started) * 1000)
    return result

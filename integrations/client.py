"""The one client for calls to a partner's own API (``api_base_url``, ``api_version``).

It applies the integration's ``authentication_type`` from ``api_credentials``:

* ``api_key``: the key in a header (``header_name``, default ``X-API-Key``);
* ``basic_auth``: ``username`` + ``password``;
* ``bearer_token``: a static ``token``, or ``client_id`` + ``client_secret`` +
  ``token_endpoint`` (the document's Volvo example), fetched like ``oauth2``;
* ``oauth2``: the client-credentials grant (optional ``scope``; the client authenticates
  with HTTP Basic, or in the form body when ``token_auth_method`` is ``client_secret_post``).

Access tokens are cached in Django's cache (shared by every process), encrypted with
FIELD_ENCRYPTION_KEY like every stored secret, until PARTNER_TOKEN_EXPIRY_MARGIN seconds
before they expire, and fetched again once when the
partner answers 401. Every call has connect and read timeouts; idempotent calls are retried
a bounded number of times; URLs are checked against the SSRF policy
(``integrations.config.check_outbound_url``). Credentials never appear in logs or errors.
"""

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from django.conf import settings
from django.core.cache import cache

from chargecars.crypto import DecryptionError, decrypt_text, encrypt_text
from integrations.config import DEFAULT_API_KEY_HEADER, check_outbound_url
from integrations.http import error_text, redact_url, session_for
from integrations.models import AuthenticationType, PartnerIntegration

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRYABLE_STATUS = frozenset({502, 503, 504})
API_VERSION_HEADER = "X-API-Version"


class PartnerAPIError(Exception):
    """A partner API call could not be made or was refused; the message is safe to show."""

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Exchange:
    """One HTTP request the client made, for a caller that logs them (the sync does).

    ``url`` is redacted; ``status_code`` is None when no answer came (``error`` says why).
    """

    method: str
    url: str
    status_code: int | None
    duration_ms: int
    error: str = ""


class PartnerClient:
    """``max_retries`` replaces PARTNER_API_MAX_RETRIES for idempotent calls (a caller with
    its own retry policy passes 0); ``on_exchange`` is called with every HTTP request made,
    token requests and retries included."""

    def __init__(
        self,
        integration: PartnerIntegration,
        *,
        max_retries: int | None = None,
        on_exchange: Callable[[Exchange], None] | None = None,
    ):
        self.integration = integration
        self.credentials: dict = dict(integration.api_credentials or {})
        self.max_retries = settings.PARTNER_API_MAX_RETRIES if max_retries is None else max_retries
        self.on_exchange = on_exchange

    def _observe(self, method: str, url: str, started: float, status=None, error="") -> None:
        if self.on_exchange is not None:
            elapsed = int((time.perf_counter() - started) * 1000)
            self.on_exchange(Exchange(method, redact_url(url), status, elapsed, error))

    # --- public API ---------------------------------------------------------------------------

    def url(self, path: str = "") -> str:
        base = (self.integration.api_base_url or "").rstrip("/")
        if not base:
            raise PartnerAPIError(f"{self.integration} has no api_base_url configured.")
        return f"{base}/{path.lstrip('/')}" if path else base

    def request(self, method: str, path: str = "", **kwargs) -> requests.Response:
        """Call the partner API. Returns the response whatever its status; raises
        PartnerAPIError when no response could be had (refused URL, network, token)."""
        method = method.upper()
        url = self.url(path)
        if problem := check_outbound_url(url):
            raise PartnerAPIError(problem)
        response = self._send(method, url, refresh=False, **kwargs)
        if response.status_code == 401 and self._uses_token_endpoint:
            logger.info(
                "Partner API %s answered 401; fetching a new access token", self.integration
            )
            response.close()
            response = self._send(method, url, refresh=True, **kwargs)
        return response

    def get(self, path: str = "", **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str = "", **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str = "", **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str = "", **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str = "", **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def access_token(self, *, refresh: bool = False) -> str:
        """The cached access token, or a new one from the token endpoint."""
        key = self._token_cache_key()
        if not refresh and (stored := cache.get(key)):
            try:
                return decrypt_text(stored, label="cached access token")
            except DecryptionError:
                pass  # encrypted under a key since retired: fetch a new one
        token, expires_in = self._fetch_token()
        lifetime = expires_in - settings.PARTNER_TOKEN_EXPIRY_MARGIN
        if lifetime <= 0:
            lifetime = max(expires_in // 2, 1)
        cache.set(key, encrypt_text(token), timeout=lifetime)
        return token

    # --- authentication -------------------------------------------------------------------------

    @property
    def _uses_token_endpoint(self) -> bool:
        kind = self.integration.authentication_type
        return kind == AuthenticationType.OAUTH2 or (
            kind == AuthenticationType.BEARER_TOKEN and not self.credentials.get("token")
        )

    def _auth(self, *, refresh: bool) -> tuple[dict[str, str], tuple[str, str] | None]:
        kind = self.integration.authentication_type
        creds = self.credentials
        if kind == AuthenticationType.API_KEY:
            self._require("api_key")
            header = creds.get("header_name") or DEFAULT_API_KEY_HEADER
            return {header: str(creds["api_key"])}, None
        if kind == AuthenticationType.BASIC_AUTH:
            self._require("username", "password")
            return {}, (str(creds["username"]), str(creds["password"]))
        if kind == AuthenticationType.BEARER_TOKEN and creds.get("token"):
            return {"Authorization": f"Bearer {creds['token']}"}, None
        if kind in (AuthenticationType.BEARER_TOKEN, AuthenticationType.OAUTH2):
            return {"Authorization": f"Bearer {self.access_token(refresh=refresh)}"}, None
        raise PartnerAPIError(f"Unknown authentication_type {kind!r}.")

    def _require(self, *keys: str) -> None:
        missing = [key for key in keys if not str(self.credentials.get(key) or "").strip()]
        if missing:
            raise PartnerAPIError(
                f"{self.integration.authentication_type} credentials are missing "
                f"{', '.join(missing)}."
            )

    def _token_cache_key(self) -> str:
        creds = self.credentials
        material = "|".join(
            str(creds.get(key) or "")
            for key in ("token_endpoint", "client_id", "client_secret", "scope")
        )
        digest = hmac.new(settings.SECRET_KEY.encode(), material.encode(), hashlib.sha256)
        return f"partner-token:{self.integration.pk}:{digest.hexdigest()[:24]}"

    def _fetch_token(self) -> tuple[str, int]:
        self._require("client_id", "client_secret", "token_endpoint")
        creds = self.credentials
        endpoint = str(creds["token_endpoint"])
        if problem := check_outbound_url(endpoint):
            raise PartnerAPIError(f"token_endpoint: {problem}")
        data = {"grant_type": "client_credentials"}
        if creds.get("scope"):
            data["scope"] = str(creds["scope"])
        auth = (str(creds["client_id"]), str(creds["client_secret"]))
        if creds.get("token_auth_method") == "client_secret_post":
            data.update(client_id=auth[0], client_secret=auth[1])
            auth = None
        where = redact_url(endpoint)
        started = time.perf_counter()
        try:
            response = session_for(endpoint).post(
                endpoint,
                data=data,
                auth=auth,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            reason = f"Token endpoint {where} unreachable: {error_text(exc, endpoint)}"
            reason = _without(reason, {}, auth)
            self._observe("POST", endpoint, started, error=reason)
            raise PartnerAPIError(reason) from None
        self._observe("POST", endpoint, started, status=response.status_code)
        if response.status_code != 200:
            raise PartnerAPIError(
                f"Token endpoint {where} answered {response.status_code}"
                f"{self._oauth_error(response)}.",
                status_code=response.status_code,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = int(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise PartnerAPIError(
                f"Token endpoint {where} answered 200 without a usable access_token."
            ) from None
        logger.info("Fetched an access token for %s (expires in %ss)", self.integration, expires_in)
        return token, expires_in

    @staticmethod
    def _oauth_error(response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        if not isinstance(body, dict) or not body.get("error"):
            return ""
        text = f" ({body['error']}"
        if body.get("error_description"):
            text += f": {str(body['error_description'])[:200]}"
        return text + ")"

    # --- transport ----------------------------------------------------------------------------

    @property
    def _timeout(self) -> tuple[float, float]:
        return (settings.PARTNER_API_CONNECT_TIMEOUT, settings.PARTNER_API_READ_TIMEOUT)

    def _send(self, method: str, url: str, *, refresh: bool, **kwargs) -> requests.Response:
        credential_headers, auth = self._auth(refresh=refresh)
        headers = {**credential_headers, **(kwargs.pop("headers", None) or {})}
        headers.setdefault("Accept", "application/json")
        if self.integration.api_version:
            headers.setdefault(API_VERSION_HEADER, str(self.integration.api_version))
        tries = 1 + (self.max_retries if method in IDEMPOTENT_METHODS else 0)
        where = redact_url(url)
        for attempt in range(1, tries + 1):
            started = time.perf_counter()
            try:
                response = session_for(url).request(
                    method,
                    url,
                    headers=headers,
                    auth=auth,
                    timeout=self._timeout,
                    allow_redirects=False,
                    **kwargs,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = _without(error_text(exc, url), credential_headers, auth)
                self._observe(method, url, started, error=reason)
                if attempt < tries:
                    time.sleep(0.2 * 2 ** (attempt - 1))
                    continue
                raise PartnerAPIError(f"{method} {where} failed: {reason}") from None
            except requests.RequestException as exc:
                # e.g. InvalidHeader, whose message quotes the offending header value
                reason = _without(error_text(exc, url), credential_headers, auth)
                self._observe(method, url, started, error=reason)
                raise PartnerAPIError(f"{method} {where} failed: {reason}") from None
            self._observe(method, url, started, status=response.status_code)
            logger.info(
                "Partner API %s %s -> %s in %d ms",
                method,
                where,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
            if response.status_code in RETRYABLE_STATUS and attempt < tries:
                response.close()
                time.sleep(0.2 * 2 ** (attempt - 1))
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover


def _without(text: str, headers: dict, auth: tuple[str, str] | None) -> str:
    """``text`` with every credential we sent (header values, basic-auth password) removed."""
    secrets = [str(value) for value in headers.values()]
    secrets += [part for value in secrets for part in value.split()]
    if auth:
        secrets.append(str(auth[1]))
    for secret in sorted({s for s in secrets if len(s.strip()) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]").replace(repr(secret), "'[redacted]'")
    return text


@dataclass
class ConnectionTestResult:
    ok: bool
    message: str


def client_test_connection(*, integration: PartnerIntegration) -> ConnectionTestResult:
    """Authenticate with the partner API and report success or the exact failure.

    Token-based integrations fetch a fresh token first (that alone proves the credentials);
    then ``GET api_base_url``: 401/403 mean the credentials were refused, 5xx that the partner
    is failing; any other answer means we reached it and were let in.
    """
    client = PartnerClient(integration)
    try:
        if client._uses_token_endpoint:
            client.access_token(refresh=True)
        started = time.perf_counter()
        response = client.get()
        elapsed = int((time.perf_counter() - started) * 1000)
    except PartnerAPIError as exc:
        return ConnectionTestResult(False, str(exc))
    where = redact_url(integration.api_base_url)
    status = response.status_code
    response.close()
    if status in (401, 403):
        return ConnectionTestResult(
            False,
            f"{where} refused our {integration.authentication_type} credentials (HTTP {status}).",
        )
    if status >= 500:
        return ConnectionTestResult(False, f"{where} is failing (HTTP {status}).")
    return ConnectionTestResult(
        True,
        f"Authenticated with {where} using {integration.authentication_type} "
        f"(HTTP {status} in {elapsed} ms).",
    )

"""The sandbox partner's HTTP side: OAuth2 token endpoint, order feed, webhook receiver and
a small HTML page of what it received. Standard library HTTP server, one thread a request."""

import base64
import html
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.sync.sandbox.world import World

MAX_LIMIT = 500


@dataclass
class SandboxConfig:
    """What the sandbox accepts. ``credentials`` and ``webhook_secrets`` are read on each
    use, so the command can follow the integration as ops edit it."""

    credentials: Callable[[], tuple[str, str] | None]  # (client_id, client_secret)
    webhook_secrets: Callable[[], list[str]]
    token_ttl: int = 3600


@dataclass
class Received:
    at: datetime
    webhook_id: str
    verified: bool
    event: str
    detail: str


@dataclass
class Activity:
    """What happened, for the HTML page and the tests."""

    webhooks: deque = field(default_factory=lambda: deque(maxlen=200))
    api_calls: deque = field(default_factory=lambda: deque(maxlen=100))
    feed_requests: int = 0
    tokens_issued: int = 0


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, *, world: World, config: SandboxConfig):
        super().__init__(address, SandboxHandler)
        self.world, self.config = world, config
        self.activity = Activity()
        self.tokens: dict[str, float] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def token_issue(self) -> str:
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.config.token_ttl
            self.activity.tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            return self.tokens.get(token, 0) > time.monotonic()

    def tokens_revoke(self) -> None:
        """Every issued token stops working (as after a partner-side key rotation)."""
        with self.lock:
            self.tokens.clear()


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def log_message(self, format, *args):
        pass

    # --- plumbing --------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, document, headers=None) -> None:
        self._send(status, json.dumps(document).encode(), "application/json", headers)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    # --- routes ------------------------------------------------------------------------------

    def do_GET(self):
        parts = urlsplit(self.path)
        if parts.path.rstrip("/") == "/orders":
            return self._feed(parse_qs(parts.query))
        if parts.path == "/webhooks.json":
            return self._json(
                200,
                [
                    vars(item) | {"at": item.at.isoformat()}
                    for item in self.server.activity.webhooks
                ],
            )
        if parts.path == "/":
            return self._send(200, self._page().encode(), "text/html; charset=utf-8")
        return self._json(404, {"error": "not_found"})

    def do_POST(self):
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/oauth/token":
            return self._token()
        if path == "/webhooks":
            return self._webhook()
        self._body()
        return self._json(404, {"error": "not_found"})

    # --- OAuth2 client credentials -------------------------------------------------------------

    def _client(self, form: dict) -> tuple[str, str]:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                return user, password
            except (ValueError, UnicodeDecodeError):
                return "", ""
        return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]

    def _token(self):
        form = parse_qs(self._body().decode("utf-8", errors="replace"))
        if form.get("grant_type", [""])[0] != "client_credentials":
            return self._json(400, {"error": "unsupported_grant_type"})
        expected = self.server.config.credentials()
        if expected is None or self._client(form) != expected:
            return self._json(401, {"error": "invalid_client"})
        token = self.server.token_issue()
        ttl = self.server.config.token_ttl
        return self._json(200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    # --- the order feed (the default contract) -----------------------------------------------

    def _feed(self, query: dict):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not self.server.token_valid(header[7:]):
            return self._json(401, {"error": "invalid_token"}, {"WWW-Authenticate": "Bearer"})
        errors = {}
        try:
            limit = int(query.get("limit", ["100"])[0])
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError
        except ValueError:
            errors["limit"] = f"a whole number from 1 to {MAX_LIMIT}"
        since_text = query.get("updated_since", ["1970-01-01T00:00:00Z"])[0]
        try:
            since = datetime.fromisoformat(since_text)
            if since.tzinfo is None:
                raise ValueError
        except ValueError:
            errors["updated_since"] = "an RFC 3339 time with its UTC offset"
        if errors:
            return self._json(400, {"error": "invalid_request", "fields": errors})
        cursor = query.get("cursor", [None])[0]
        try:
            records, next_cursor = self.server.world.page(since=since, limit=limit, cursor=cursor)
        except ValueError:
            return self._json(400, {"error": "invalid_request", "fields": {"cursor": "unknown"}})
        self.server.activity.feed_requests += 1
        return self._json(200, {"orders": records, "next_cursor": next_cursor})

    # --- webhooks from ChargeCars -------------------------------------------------------------

    def _webhook(self):
        body = self._body().decode("utf-8", errors="replace")
        headers = {name.lower(): value for name, value in self.headers.items()}
        verified, event, detail = False, "", "no webhook secret configured"
        for secret in self.server.config.webhook_secrets():
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                detail = f"signature refused: {exc}"
                continue
            verified, event = True, payload.get("type", "")
            data = payload.get("data") or {}
            references = data.get("partner_external_references") or {}
            detail = (
                f"{references.get('partner_order_id', data.get('integration', ''))} -> "
                f"{data.get('status', '')} (sequence {data.get('sequence', '-')})"
            )
            break
        self.server.activity.webhooks.appendleft(
            Received(
                datetime.now().astimezone(), headers.get("webhook-id", ""), verified, event, detail
            )
        )
        if verified:
            return self._send(204, b"", "text/plain")
        return self._json(401, {"error": "invalid_signature", "detail": detail})

    # --- what a person sees ----------------------------------------------------------------

    def _page(self) -> str:
        activity, world = self.server.activity, self.server.world
        rows = "".join(
            f"<tr><td>{item.at:%H:%M:%S}</td><td>{html.escape(item.event)}</td>"
            f"<td>{'verified' if item.verified else '<b>NOT verified</b>'}</td>"
            f"<td>{html.escape(item.detail)}</td><td><code>{html.escape(item.webhook_id)}"
            "</code></td></tr>"
            for item in list(activity.webhooks)[:100]
        )
        calls = "".join(f"<li>{html.escape(line)}</li>" for line in list(activity.api_calls)[:30])
        counts = ", ".join(f"{status}: {n}" for status, n in sorted(world.counts().items()))
        ok = sum(item.verified for item in activity.webhooks)
        return f"""<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>ChargeCars sandbox partner</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}</style>
</head><body><h1>ChargeCars sandbox partner</h1>
<p>Orders in the feed ({len(world.orders)}): {html.escape(counts) or "none yet"}.
Feed pages served: {activity.feed_requests}; access tokens issued: {activity.tokens_issued}.</p>
<h2>Webhooks received from ChargeCars ({ok} of {len(activity.webhooks)} verified)</h2>
<table><tr><th>at</th><th>event</th><th>signature</th><th>order</th><th>webhook-id</th></tr>
{rows or "<tr><td colspan=5>none yet</td></tr>"}</table>
<h2>Our calls to the ChargeCars partner API</h2><ul>{calls or "<li>none yet</li>"}</ul>
</body></html>"""

"""The sandbox partner's life: orders appear and move on, and most changes are also sent
to the ChargeCars partner API as signed calls (creates and status updates), the rest only
show in the feed, where the scheduled sync finds them."""

import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import requests
from standardwebhooks.webhooks import Webhook

from chargecars.wire import rfc3339
from integrations.sync.sandbox.server import SandboxServer
from integrations.sync.sandbox.world import SandboxOrder

logger = logging.getLogger(__name__)

# Share of changes the partner also pushes to our API; the rest only the sync sees.
PUSHED_SHARE = 0.6
MAX_LIVE_ORDERS = 400


class ChargeCarsCaller:
    """Signed calls to our partner API, as a partner's engineer would write them."""

    def __init__(self, *, base_url: str, integration_name: str, secret: Callable[[], str | None]):
        self.base = f"{base_url.rstrip('/')}/api/v1/partners/{integration_name}"
        self.secret = secret
        self.session = requests.Session()
        self.session.trust_env = False

    def _post(self, path: str, payload: dict) -> str:
        secret = self.secret()
        if not secret:
            return "not sent: no webhook secret known yet"
        body = json.dumps(payload)
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = datetime.now(tz=UTC)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, now, body),
            "Content-Type": "application/json",
        }
        try:
            response = self.session.post(
                self.base + path, data=body.encode(), headers=headers, timeout=10
            )
        except requests.RequestException as exc:
            return f"not reached: {type(exc).__name__}"
        return f"{response.status_code} {response.reason}"

    def order_create(self, order: SandboxOrder) -> str:
        record = order.record()
        record.pop("status")
        record.pop("updated_at")
        return self._post("/orders/", record)

    def status_update(self, order: SandboxOrder) -> str:
        payload = {"status": order.status, "occurred_at": rfc3339(order.updated_at)}
        return self._post(f"/orders/{order.partner_order_id}/status/", payload)


class PartnerLife(threading.Thread):
    """Every ``tick`` seconds the partner's world changes a little (see module doc)."""

    def __init__(self, server: SandboxServer, caller: ChargeCarsCaller | None, *, tick: float):
        super().__init__(daemon=True, name="sandbox-partner")
        self.server, self.caller, self.tick = server, caller, tick
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.tick):
            try:
                self.step()
            except Exception:  # the sandbox keeps going whatever one step hit
                logger.exception("Sandbox partner step failed")

    def step(self) -> None:
        world = self.server.world
        random = world.random
        if len(world.orders) < MAX_LIVE_ORDERS and random.random() < 0.5:
            order = world.order_new()
            self._tell(order, created=True, pushed=random.random() < PUSHED_SHARE)
        move = world.next_move()
        if move is not None:
            order = world.order_move(*move)
            self._tell(order, created=False, pushed=random.random() < PUSHED_SHARE)

    def _tell(self, order: SandboxOrder, *, created: bool, pushed: bool) -> None:
        what = "new order" if created else f"status {order.status}"
        if self.caller is None or not pushed:
            line = f"{order.partner_order_id}: {what} (left for the sync to find)"
        else:
            call = self.caller.order_create if created else self.caller.status_update
            line = f"{order.partner_order_id}: {what} sent to ChargeCars: {call(order)}"
        stamp = datetime.now().astimezone().strftime("%H:%M:%S")
        self.server.activity.api_calls.appendleft(f"{stamp} {line}")
        logger.info("sandbox partner: %s", line)

"""The sandbox partner's own orders: they appear over time and move through the partner's
statuses; the order feed reads them in (updated_at, id) order with opaque cursors."""

import base64
import bisect
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random

from chargecars.wire import rfc3339

RECEIVED, PLANNED, INSTALLING, INSTALLED, CANCELLED = (
    "ORDER_RECEIVED",
    "INSTALL_PLANNED",
    "INSTALLING",
    "INSTALLED",
    "CANCELLED",
)
# The sandbox's vocabulary, as the example loader configures its integration.
SANDBOX_STATUS_MAPPING = {
    "chargecars_to_partner": {
        "new": RECEIVED,
        "approved": PLANNED,
        "in_progress": INSTALLING,
        "completed": INSTALLED,
        "cancelled": CANCELLED,
    },
    "partner_to_chargecars": {
        RECEIVED: "new",
        PLANNED: "approved",
        INSTALLING: "in_progress",
        INSTALLED: "completed",
        CANCELLED: "cancelled",
    },
}
NEXT_STATUS = {RECEIVED: PLANNED, PLANNED: INSTALLING, INSTALLING: INSTALLED}

_FIRST = ("Sanne", "Daan", "Fleur", "Lucas", "Emma", "Noah", "Julia", "Sem", "Tess", "Milan")
_LAST = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder")
_CITIES = ("Utrecht", "Amsterdam", "Rotterdam", "Eindhoven", "Groningen", "Zwolle", "Breda")
_VEHICLES = ("Volvo EX30", "Volvo EX90", "Polestar 2", "Kia EV6", "Tesla Model Y")
_DEALERS = ("VAN_MOSSEL_WEST", "STERN_AUTO", "BROEKHUIS_NOORD")


@dataclass
class SandboxOrder:
    partner_order_id: str
    status: str
    updated_at: datetime
    customer_name: str
    customer_email: str
    installation_city: str
    vehicle_model: str
    dealer_group_id: str

    @property
    def key(self) -> tuple[float, str]:
        return (self.updated_at.timestamp(), self.partner_order_id)

    def record(self) -> dict:
        """The order as the feed gives it (the default contract)."""
        return {
            "partner_order_id": self.partner_order_id,
            "status": self.status,
            "updated_at": rfc3339(self.updated_at),
            "customer_name": self.customer_name,
            "customer_email": self.customer_email,
            "installation_city": self.installation_city,
            "vehicle_model": self.vehicle_model,
            "dealer_group_id": self.dealer_group_id,
        }


def _cursor(key: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(f"{key[0]!r}|{key[1]}".encode()).decode().rstrip("=")


def cursor_key(cursor: str) -> tuple[float, str]:
    """The position a cursor stands for; raises ValueError for one we did not make."""
    padded = cursor + "=" * (-len(cursor) % 4)
    stamp, _, order_id = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
    if not order_id:
        raise ValueError("not a cursor of this feed")
    return float(stamp), order_id


class World:
    """The partner's orders, thread-safe; ``keys`` is kept sorted for the feed."""

    def __init__(self, *, seed: int = 1, orders: int = 0, now: datetime | None = None):
        self.random = Random(seed)
        self.lock = threading.Lock()
        self.orders: dict[str, SandboxOrder] = {}
        self.keys: list[tuple[float, str]] = []
        self.serial = 0
        now = now or datetime.now(tz=UTC)
        for n in range(orders):
            # Placed over the last days and still early on: reachable from a new order.
            status = self.random.choices((RECEIVED, PLANNED, CANCELLED), (50, 40, 10))[0]
            at = now - timedelta(seconds=(orders - n) * 7 + 60)
            self._add(self._new_order(status, at))

    def _new_order(self, status: str, at: datetime) -> SandboxOrder:
        self.serial += 1
        first, last = self.random.choice(_FIRST), self.random.choice(_LAST)
        return SandboxOrder(
            partner_order_id=f"SBX-{self.serial:07d}",
            status=status,
            updated_at=at,
            customer_name=f"{first} {last}",
            customer_email=f"{first.lower()}.{self.serial}@example.nl",
            installation_city=self.random.choice(_CITIES),
            vehicle_model=self.random.choice(_VEHICLES),
            dealer_group_id=self.random.choice(_DEALERS),
        )

    def _add(self, order: SandboxOrder) -> None:
        self.orders[order.partner_order_id] = order
        bisect.insort(self.keys, order.key)

    def order_new(self, now: datetime | None = None) -> SandboxOrder:
        with self.lock:
            order = self._new_order(RECEIVED, now or datetime.now(tz=UTC))
            self._add(order)
            return order

    def order_move(self, order_id: str, status: str, now: datetime | None = None) -> SandboxOrder:
        with self.lock:
            order = self.orders[order_id]
            del self.keys[bisect.bisect_left(self.keys, order.key)]
            order.status = status
            order.updated_at = max(now or datetime.now(tz=UTC), order.updated_at)
            bisect.insort(self.keys, order.key)
            return order

    def next_move(self) -> tuple[str, str] | None:
        """An order that moves on, and to what: usually the next status, now and then a
        cancellation or a skipped step (which ChargeCars will see as drift)."""
        with self.lock:
            open_ids = [o.partner_order_id for o in self.orders.values() if o.status in NEXT_STATUS]
            if not open_ids:
                return None
            order = self.orders[self.random.choice(open_ids)]
            roll = self.random.random()
            if roll < 0.05:
                return order.partner_order_id, CANCELLED
            following = NEXT_STATUS[order.status]
            if roll < 0.12 and following in NEXT_STATUS:
                return order.partner_order_id, NEXT_STATUS[following]
            return order.partner_order_id, following

    def page(self, *, since: datetime, limit: int, cursor: str | None) -> tuple[list, str | None]:
        """Records updated at or after ``since`` in (updated_at, id) order, after ``cursor``."""
        with self.lock:
            if cursor:
                start = bisect.bisect_right(self.keys, cursor_key(cursor))
            else:
                start = bisect.bisect_left(self.keys, (since.timestamp(), ""))
            keys = self.keys[start : start + limit]
            records = [self.orders[order_id].record() for _, order_id in keys]
            more = start + limit < len(self.keys)
        return records, (_cursor(keys[-1]) if keys and more else None)

    def counts(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for order in self.orders.values():
                counts[order.status] = counts.get(order.status, 0) + 1
            return counts

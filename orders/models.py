import uuid

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KT

from orders.status import OrderStatus

# The keys the source document lists for partner_external_references.
PARTNER_REFERENCE_KEYS = (
    "partner_order_id",
    "partner_customer_id",
    "dealer_group_id",
    "partner_invoice_id",
    "purchase_order_number",
    "external_order_reference",
    "partner_system",
    "sync_last_updated",
    "partner_lead_id",
    "dealer_reference_number",
)


# What an installation order says about the customer and the job (staff and partners fill it).
ORDER_DETAIL_FIELDS = (
    "customer_name",
    "customer_email",
    "customer_phone",
    "installation_street",
    "installation_postal_code",
    "installation_city",
    "installation_country",
    "vehicle_model",
    "charger_model",
    "requested_installation_date",
    "notes",
)


class OrderNumber(models.Model):
    """A database sequence, portable across SQLite and PostgreSQL, for order numbers.

    On PostgreSQL the order INSERT draws from this table's id sequence itself (see
    ``NextOrderNumber``); elsewhere ``orders.services`` inserts a row per order.
    """

    id = models.BigAutoField(primary_key=True)

    class Meta:
        db_table = "order_number_sequence"

    def __str__(self) -> str:
        return str(self.pk)


class NextOrderNumber(models.Expression):
    """``CC-<year>-<number>`` from ``OrderNumber``'s sequence, computed inside the INSERT.

    The default of ``Order.order_number`` on PostgreSQL, which returns the value from the
    INSERT: no separate round trip for the number. Other databases have no sequence to
    call from a default; there ``orders.services`` sets the number before inserting.
    """

    output_field = models.CharField()
    allowed_default = True

    def as_sql(self, compiler, connection):
        return "NULL", []

    def as_postgresql(self, compiler, connection):
        # Same text as the Python path: the UTC year, at least six digits.
        return (
            "'CC-' || to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY') || '-' || "
            "to_char(nextval(pg_get_serial_sequence('order_number_sequence', 'id')), "
            "'FM999999000000')",
            [],
        )


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    order_number = models.CharField(
        max_length=20, unique=True, editable=False, db_default=NextOrderNumber()
    )
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW, editable=False
    )
    source_integration = models.ForeignKey(
        "integrations.PartnerIntegration",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        help_text="The partner integration this order came from, if any.",
    )

    customer_name = models.CharField(max_length=200)
    customer_email = models.EmailField(blank=True)
    customer_phone = models.CharField(max_length=50, blank=True)
    installation_street = models.CharField(max_length=200, blank=True)
    installation_postal_code = models.CharField(max_length=20, blank=True)
    installation_city = models.CharField(max_length=100, blank=True)
    installation_country = models.CharField(max_length=2, default="NL")
    vehicle_model = models.CharField(max_length=100, blank=True)
    charger_model = models.CharField(max_length=100, blank=True)
    requested_installation_date = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    partner_external_references = models.JSONField(default=dict, blank=True)
    partner_status_occurred_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="occurred_at of the last partner status update recorded; older ones are ignored.",
    )

    class Meta:
        db_table = "orders"
        ordering = ["-created_at"]
        constraints = [
            # One partner order can never become two orders.
            models.UniqueConstraint(
                "source_integration",
                KT("partner_external_references__partner_order_id"),
                name="orders_unique_partner_order_per_integration",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values), name="orders_status_valid"
            ),
        ]
        indexes = [
            models.Index(
                KT("partner_external_references__partner_order_id"),
                name="orders_partner_order_id_idx",
            ),
            models.Index(fields=["status", "-created_at"], name="orders_status_created_idx"),
        ]

    def __str__(self) -> str:
        return self.order_number

    @property
    def partner_order_id(self) -> str | None:
        return (self.partner_external_references or {}).get("partner_order_id")


class StatusChangeSource(models.TextChoices):
    STAFF = "staff", "Staff"
    PARTNER = "partner", "Partner"
    SYNC = "sync", "Sync"
    SYSTEM = "system", "System"


class OrderStatusChange(models.Model):
    """One row per status change (and one for creation, with an empty from_status)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_history")
    from_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=OrderStatus.choices)
    source = models.CharField(max_length=10, choices=StatusChangeSource.choices)
    integration = models.ForeignKey(
        "integrations.PartnerIntegration",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    inbound_event = models.ForeignKey(
        "integrations.InboundEvent",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="status_changes",
        help_text="The partner API request that made this change, if any.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "order_status_history"
        ordering = ["created_at", "id"]
        verbose_name = "status change"

    def __str__(self) -> str:
        return f"{self.from_status or 'created'} → {self.to_status} ({self.get_source_display()})"

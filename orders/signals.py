from django.dispatch import Signal

# Sent inside the transaction that created an order or changed its status, with
# ``order`` and ``change`` (the OrderStatusChange row). Receivers that write rows (the
# partner notification outbox) therefore commit or roll back together with the change.
order_status_changed = Signal()

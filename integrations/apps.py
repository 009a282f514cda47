from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self) -> None:
        from integrations.delivery import on_order_status_changed
        from orders.models import Order
        from orders.signals import order_status_changed

        # The transactional outbox: a status change writes its webhook delivery rows in the
        # same transaction (see integrations.delivery).
        order_status_changed.connect(
            on_order_status_changed, sender=Order, dispatch_uid="integrations.outbox"
        )

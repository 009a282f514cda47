from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"

    def ready(self) -> None:
        # The webhook tasks register here, so web, worker and beat all have them: services
        # queue them by name (integrations.outbound.queue), never by importing them.
        import integrations.outbound.tasks
        import integrations.sync.tasks  # noqa: F401
        from integrations.api.partner_orders import partner_status_refused
        from integrations.outbound.enqueue import on_order_status_changed
        from integrations.sync.drift import on_partner_status_refused
        from orders.models import Order
        from orders.signals import order_status_changed

        # The transactional outbox: a status change writes its webhook delivery rows in the
        # same transaction (see integrations.outbound.enqueue).
        order_status_changed.connect(
            on_order_status_changed, sender=Order, dispatch_uid="integrations.outbox"
        )
        # A status the partner API refused (409) goes into the drift report.
        partner_status_refused.connect(
            on_partner_status_refused, dispatch_uid="integrations.sync.drift"
        )

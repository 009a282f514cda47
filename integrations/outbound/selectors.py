"""Reads that several outbound modules share."""

from integrations.models import DeliveryHold, DeliveryHoldState, PartnerIntegration

# A hold in one of these states keeps the integration's deliveries back.
HOLDING_STATES = (DeliveryHoldState.HELD, DeliveryHoldState.DRAINING)


def integration_is_holding(integration_id) -> bool:
    return DeliveryHold.objects.filter(
        integration_id=integration_id, state__in=HOLDING_STATES
    ).exists()


def _loaded_relation(instance, name: str):
    """``instance.<name>`` when the ORM already loaded it (the relation cache), else None:
    never a query."""
    if instance._meta.get_field(name).is_cached(instance):
        return getattr(instance, name)
    return None


def order_source_integration(*, order, change) -> PartnerIntegration:
    """The order's integration, without a query when the caller already had it loaded (on the
    order, or on the status change): the order-change path pays for no second read."""
    for holder, name in ((order, "source_integration"), (change, "integration")):
        loaded = _loaded_relation(holder, name)
        if loaded is not None and loaded.pk == order.source_integration_id:
            return loaded
    return PartnerIntegration.objects.get(pk=order.source_integration_id)

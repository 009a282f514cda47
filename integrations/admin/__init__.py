"""The Django admin of partner integrations, one module per area."""

from integrations.admin import inbound, integrations, outbound, sync

__all__ = ["inbound", "integrations", "outbound", "sync"]

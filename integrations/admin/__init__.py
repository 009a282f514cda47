"""The Django admin of partner integrations, one module per area."""

from integrations.admin import feed_mappings, inbound, integrations, outbound, sync

__all__ = ["feed_mappings", "inbound", "integrations", "outbound", "sync"]

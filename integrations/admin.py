from integrations import admin_outbound  # noqa: F401  (delivery log, holds, integration actions)

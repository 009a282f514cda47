# Register your models here.

# --- Partner API (issue 3): inbound events, re-processing, secret rotation -----------------
from integrations import admin_inbound  # noqa: F401

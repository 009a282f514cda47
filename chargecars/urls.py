from django.contrib import admin
from django.urls import include, path

from integrations.api import urls as api_urls

admin.site.site_header = "ChargeCars partner integrations"
admin.site.site_title = "ChargeCars back-office"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Partner API: problem+json errors everywhere under /api/.
    path("api/v1/partners/<slug:integration_name>/", include(api_urls.partner_urls)),
    path("api/", include(api_urls)),
]

handler404 = "integrations.api.errors.not_found_handler"
handler500 = "integrations.api.errors.server_error_handler"

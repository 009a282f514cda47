from django.contrib import admin
from django.urls import path

admin.site.site_header = "ChargeCars partner integrations"
admin.site.site_title = "ChargeCars back-office"
admin.site.index_title = "Operations"

urlpatterns = [
    path("admin/", admin.site.urls),
]

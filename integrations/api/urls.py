from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from integrations.api import views

partner_urls = [
    path("orders/", views.OrderCreateView.as_view(), name="partner-order-create"),
    path(
        "orders/<str:partner_order_id>/",
        views.OrderDetailView.as_view(),
        name="partner-order-detail",
    ),
    path(
        "orders/<str:partner_order_id>/status/",
        views.StatusUpdateView.as_view(),
        name="partner-order-status",
    ),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

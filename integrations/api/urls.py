from django.urls import path, re_path
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
    # The same endpoints without the trailing slash. Django would otherwise answer a 301 to
    # an HTML page, and an HTTP client that follows it turns the POST into a bodiless GET.
    # Left out of the OpenAPI schema (integrations.api.schema.without_slashless_twins).
    re_path(r"^orders$", views.OrderCreateView.as_view()),
    re_path(r"^orders/(?P<partner_order_id>[^/]+)$", views.OrderDetailView.as_view()),
    re_path(r"^orders/(?P<partner_order_id>[^/]+)/status$", views.StatusUpdateView.as_view()),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

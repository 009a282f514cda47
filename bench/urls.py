"""The real URLs plus the floor, typical and lean views, which exist only under bench.settings."""

from django.urls import path

from bench.floor import floor_view
from bench.lean import LeanCreateView
from bench.typical import TypicalOrderView
from chargecars.urls import handler404, handler500, urlpatterns  # noqa: F401

urlpatterns = [
    path("bench/floor/", floor_view),
    path("bench/typical/", TypicalOrderView.as_view()),
    path("bench/lean/<str:integration_name>/", LeanCreateView.as_view()),
    *urlpatterns,
]

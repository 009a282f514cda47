"""The real URLs plus the floor view, which exists only under bench.settings."""

from django.urls import path

from bench.floor import floor_view
from chargecars.urls import handler404, handler500, urlpatterns  # noqa: F401

urlpatterns = [path("bench/floor/", floor_view), *urlpatterns]

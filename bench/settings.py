"""Settings for `make bench` only: the real settings plus the floor view's URL."""

from chargecars.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
